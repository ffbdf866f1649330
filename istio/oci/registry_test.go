package oci_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/oci"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/oci/ocitest"
)

// builtModule reads build/mcp-ratelimit.wasm, which `make test` builds
// before running the tests. A missing file fails the test.
func builtModule(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join("..", "..", "build", "mcp-ratelimit.wasm")
	module, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the built module: %v (run `make build` first)", err)
	}
	return module
}

// TestPushedImageIsWhatIstioLoads builds the image of the real module,
// pushes it to a real registry on loopback, and pulls it back the way
// Istio does for each form of WasmPlugin url: by tag with the sha256
// field, by digest, and by digest in the url alone. What comes back must
// be byte for byte build/mcp-ratelimit.wasm, and a wrong sha256 must be
// refused as Istio refuses it.
func TestPushedImageIsWhatIstioLoads(t *testing.T) {
	module := builtModule(t)
	registry := ocitest.StartRegistry(t)

	img, err := oci.NewImage(module, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	// Through the layout, as `make image` then `make push` do.
	dir := filepath.Join(t.TempDir(), "oci")
	if err := oci.WriteLayout(dir, img, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	fromLayout, tag, err := oci.ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := oci.Push(t.Context(), registry+"/mcp/mcp-ratelimit", tag, fromLayout)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if want := registry + "/mcp/mcp-ratelimit:v1.2.3"; pushed.Tagged.Name() != want {
		t.Errorf("pushed to %s, want %s", pushed.Tagged.Name(), want)
	}
	if want, _ := oci.Digest(img); pushed.Digest != want {
		t.Errorf("pushed digest %s, want the image's %s", pushed.Digest, want)
	}
	if pushed.Digest == oci.ModuleSHA256(module) {
		t.Fatalf("the manifest digest equals the module's sha256; the test cannot tell them apart")
	}

	tests := []struct {
		name, url, sha256 string
		wantErr           error
	}{
		{name: "tag and sha256 field", url: pushed.WasmPluginURL(), sha256: pushed.Digest},
		{name: "tag without scheme", url: strings.TrimPrefix(pushed.WasmPluginURL(), "oci://"), sha256: pushed.Digest},
		{name: "digest in url and sha256 field", url: pushed.ByDigest(), sha256: pushed.Digest},
		{name: "digest in url only", url: pushed.ByDigest()},
		{name: "tag only (Istio then trusts the tag)", url: pushed.WasmPluginURL()},
		{name: "sha256 of the module instead of the image", url: pushed.WasmPluginURL(), sha256: oci.ModuleSHA256(module), wantErr: oci.ErrChecksumMismatch},
		{name: "digest in url disagrees with sha256 field", url: pushed.ByDigest(), sha256: strings.Repeat("0", 64), wantErr: oci.ErrChecksumMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := oci.FetchAsIstio(t.Context(), tt.url, tt.sha256)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FetchAsIstio: %v", err)
			}
			if !bytes.Equal(got.Module, module) {
				t.Errorf("pulled module (%d bytes, sha256 %s) differs from build/mcp-ratelimit.wasm (%d bytes, sha256 %s)",
					len(got.Module), oci.ModuleSHA256(got.Module), len(module), oci.ModuleSHA256(module))
			}
			if got.Digest != pushed.Digest || got.Variant != oci.VariantCompat {
				t.Errorf("pulled digest %s variant %s, want %s %s", got.Digest, got.Variant, pushed.Digest, oci.VariantCompat)
			}
		})
	}
}

func TestPushRefusesBadTargets(t *testing.T) {
	img, err := oci.NewImage(fakeModule("x"), testMeta)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"", "UPPER/case", "127.0.0.1:1/repo@sha256:" + strings.Repeat("a", 64)} {
		if _, err := oci.Push(t.Context(), target, "v1", img); err == nil {
			t.Errorf("Push(%q) succeeded, want an error", target)
		}
	}
}
