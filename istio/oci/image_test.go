package oci_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/oci"
)

// fakeModule is a tiny byte string that passes the Wasm magic check.
func fakeModule(tail string) []byte {
	return append([]byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}, tail...)
}

var testMeta = oci.Metadata{
	Source:   "https://github.com/mcp-ratelimit/mcp-ratelimit-wasm",
	Version:  "v1.2.3",
	Revision: "0123456789abcdef0123456789abcdef01234567",
	Created:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
}

func mustImage(t *testing.T, module []byte, meta oci.Metadata) v1.Image {
	t.Helper()
	img, err := oci.NewImage(module, meta)
	if err != nil {
		t.Fatalf("NewImage: %v", err)
	}
	return img
}

func TestNewImageIsTheOCICompatVariant(t *testing.T) {
	module := fakeModule("compat")
	img := mustImage(t, module, testMeta)

	manifest, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if manifest.MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %q, want %q", manifest.MediaType, types.OCIManifestSchema1)
	}
	if manifest.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("config media type = %q, want %q", manifest.Config.MediaType, types.OCIConfigJSON)
	}
	if len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != types.OCILayer {
		t.Fatalf("layers = %+v, want one %s layer", manifest.Layers, types.OCILayer)
	}
	wantAnnotations := map[string]string{
		oci.AnnotationSource:   testMeta.Source,
		oci.AnnotationVersion:  testMeta.Version,
		oci.AnnotationRevision: testMeta.Revision,
		oci.AnnotationCreated:  "2026-01-02T03:04:05Z",
	}
	for k, want := range wantAnnotations {
		if got := manifest.Annotations[k]; got != want {
			t.Errorf("annotation %s = %q, want %q", k, got, want)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "wasip1" || cfg.Architecture != "wasm" {
		t.Errorf("platform = %s/%s, want wasip1/wasm", cfg.OS, cfg.Architecture)
	}

	got, variant, err := oci.ExtractModule(img)
	if err != nil {
		t.Fatalf("ExtractModule: %v", err)
	}
	if variant != oci.VariantCompat {
		t.Errorf("variant = %s, want %s", variant, oci.VariantCompat)
	}
	if !bytes.Equal(got, module) {
		t.Errorf("extracted module differs from the input")
	}
}

func TestNewImageLayerHoldsOnlyPluginWasm(t *testing.T) {
	img := mustImage(t, fakeModule("tar"), testMeta)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, hdr.Name)
		if hdr.Mode != 0o444 || hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s: mode %o uid %d gid %d, want 0444 0 0", hdr.Name, hdr.Mode, hdr.Uid, hdr.Gid)
		}
	}
	if len(names) != 1 || names[0] != oci.ModuleFileName {
		t.Errorf("layer entries = %v, want [%s]", names, oci.ModuleFileName)
	}
}

func TestNewImageIsReproducible(t *testing.T) {
	digest := func(module []byte, meta oci.Metadata) string {
		d, err := oci.Digest(mustImage(t, module, meta))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := digest(fakeModule("a"), testMeta)
	if again := digest(fakeModule("a"), testMeta); again != base {
		t.Errorf("same inputs gave digests %s and %s", base, again)
	}
	otherVersion := testMeta
	otherVersion.Version = "v1.2.4"
	zeroTime := testMeta
	zeroTime.Created = time.Time{}
	for name, d := range map[string]string{
		"other module":  digest(fakeModule("b"), testMeta),
		"other version": digest(fakeModule("a"), otherVersion),
		"zero created":  digest(fakeModule("a"), zeroTime),
	} {
		if d == base {
			t.Errorf("%s: digest did not change", name)
		}
	}
	if a, b := digest(fakeModule("a"), zeroTime), digest(fakeModule("a"), zeroTime); a != b {
		t.Errorf("zero Created is not reproducible: %s vs %s", a, b)
	}
}

func TestNewImageRefusesBadInput(t *testing.T) {
	noSource, noVersion, noRevision := testMeta, testMeta, testMeta
	noSource.Source, noVersion.Version, noRevision.Revision = "", "", ""
	tests := []struct {
		name    string
		module  []byte
		meta    oci.Metadata
		wantErr string
	}{
		{"empty module", nil, testMeta, "not a WebAssembly binary"},
		{"text file", []byte("#!/bin/sh\necho hi\n"), testMeta, "not a WebAssembly binary"},
		{"magic only", []byte{0x00, 0x61, 0x73, 0x6d}, testMeta, "not a WebAssembly binary"},
		{"no source", fakeModule("x"), noSource, "source is empty"},
		{"no version", fakeModule("x"), noVersion, "version is empty"},
		{"no revision", fakeModule("x"), noRevision, "revision is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := oci.NewImage(tt.module, tt.meta)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewImage error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// tarGzipLayer returns a tar+gzip layer of the given media type holding
// files (name -> content).
func tarGzipLayer(t *testing.T, mt types.MediaType, files map[string][]byte) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()), tarball.WithMediaType(mt))
	if err != nil {
		t.Fatal(err)
	}
	return layer
}

func imageOf(t *testing.T, manifestType types.MediaType, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, manifestType), layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestExtractModuleFollowsIstioRules checks the three shapes Istio's
// fetcher accepts and the ones it refuses (istio pkg/wasm/imagefetcher.go).
func TestExtractModuleFollowsIstioRules(t *testing.T) {
	module := fakeModule("variant")
	wasmConfig := static.NewLayer([]byte(`{}`), "application/vnd.module.wasm.config.v1+json")
	tests := []struct {
		name        string
		img         v1.Image
		wantVariant oci.Variant
		wantErr     string
	}{
		{
			name:        "docker compat image",
			img:         imageOf(t, types.DockerManifestSchema2, tarGzipLayer(t, types.DockerLayer, map[string][]byte{"plugin.wasm": module})),
			wantVariant: oci.VariantDocker,
		},
		{
			name:        "oci compat image, module in a sub directory",
			img:         imageOf(t, types.OCIManifestSchema1, tarGzipLayer(t, types.OCILayer, map[string][]byte{"etc/wasm/plugin.wasm": module})),
			wantVariant: oci.VariantCompat,
		},
		{
			name: "oci compat image, only the last layer counts",
			img: imageOf(t, types.OCIManifestSchema1,
				tarGzipLayer(t, types.OCILayer, map[string][]byte{"plugin.wasm": fakeModule("old")}),
				tarGzipLayer(t, types.OCILayer, map[string][]byte{"plugin.wasm": module})),
			wantVariant: oci.VariantCompat,
		},
		{
			name:        "oci artifact with two layers",
			img:         imageOf(t, types.OCIManifestSchema1, wasmConfig, static.NewLayer(module, oci.WasmContentLayerMediaType)),
			wantVariant: oci.VariantArtifact,
		},
		{
			name:    "docker image with an OCI layer type",
			img:     imageOf(t, types.DockerManifestSchema2, tarGzipLayer(t, types.OCILayer, map[string][]byte{"plugin.wasm": module})),
			wantErr: "invalid media type",
		},
		{
			name:    "no plugin.wasm in the layer",
			img:     imageOf(t, types.OCIManifestSchema1, tarGzipLayer(t, types.OCILayer, map[string][]byte{"filter.wasm": module})),
			wantErr: "plugin.wasm not found",
		},
		{
			name:    "artifact with one layer",
			img:     imageOf(t, types.OCIManifestSchema1, static.NewLayer(module, oci.WasmContentLayerMediaType)),
			wantErr: "number of layers must be 2 but got 1",
		},
		{
			name: "artifact with three layers",
			img: imageOf(t, types.OCIManifestSchema1, wasmConfig, static.NewLayer(module, oci.WasmContentLayerMediaType),
				static.NewLayer([]byte("x"), "text/plain")),
			wantErr: "number of layers must be 2 but got 3",
		},
		{
			name:    "no layers",
			img:     imageOf(t, types.OCIManifestSchema1),
			wantErr: "number of layers must be greater than zero",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, variant, err := oci.ExtractModule(tt.img)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ExtractModule: %v", err)
			}
			if variant != tt.wantVariant {
				t.Errorf("variant = %s, want %s", variant, tt.wantVariant)
			}
			if !bytes.Equal(got, module) {
				t.Errorf("extracted %q, want %q", got, module)
			}
		})
	}
}

func TestLayoutRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "oci")
	img := mustImage(t, fakeModule("layout"), testMeta)
	want, _ := oci.Digest(img)
	for i := range 2 { // the second write replaces the first layout
		if err := oci.WriteLayout(dir, img, "v1.2.3"); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	back, tag, err := oci.ReadLayout(dir)
	if err != nil {
		t.Fatalf("ReadLayout: %v", err)
	}
	if got, _ := oci.Digest(back); got != want {
		t.Errorf("digest after round trip = %s, want %s", got, want)
	}
	if tag != "v1.2.3" {
		t.Errorf("tag = %q, want v1.2.3", tag)
	}
	module, _, err := oci.ExtractModule(back)
	if err != nil || !bytes.Equal(module, fakeModule("layout")) {
		t.Errorf("module after round trip = %q, %v", module, err)
	}
}

func TestWriteLayoutRefusesToReplaceOtherDirectories(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := oci.WriteLayout(dir, mustImage(t, fakeModule("x"), testMeta), "v1")
	if err == nil || !strings.Contains(err.Error(), "not an OCI layout") {
		t.Fatalf("error = %v, want a refusal", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("the directory's file is gone: %v", err)
	}
}

func TestReadLayoutErrors(t *testing.T) {
	_, _, err := oci.ReadLayout(filepath.Join(t.TempDir(), "missing"))
	if err == nil || !strings.Contains(err.Error(), "make image") {
		t.Fatalf("error = %v, want one that says to run make image", err)
	}
}

func TestTagFor(t *testing.T) {
	tests := []struct {
		version, want string
		wantErr       bool
	}{
		{version: "v0.1.0", want: "v0.1.0"},
		{version: "v0.1.0-3-gabcdef0-dirty", want: "v0.1.0-3-gabcdef0-dirty"},
		{version: "feature/x+y", want: "feature-x-y"},
		{version: "-.leading", want: "leading"},
		{version: strings.Repeat("a", 200), want: strings.Repeat("a", 128)},
		{version: "", wantErr: true},
		{version: "--", wantErr: true},
	}
	for _, tt := range tests {
		got, err := oci.TagFor(tt.version)
		if tt.wantErr {
			if err == nil {
				t.Errorf("TagFor(%q) = %q, want an error", tt.version, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("TagFor(%q) = %q, %v; want %q", tt.version, got, err, tt.want)
		}
	}
}

func TestIstioImagePatch(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	tests := []struct {
		name, url, sha256, wantErr string
	}{
		{name: "published image", url: "oci://ghcr.io/org/mcp-ratelimit:v1", sha256: sha},
		{name: "placeholder", url: oci.PlaceholderURL, sha256: oci.PlaceholderSHA256},
		{name: "https url", url: "https://example.com/f.wasm", sha256: sha, wantErr: "want an oci:// url"},
		{name: "digest with prefix", url: "oci://r/x:v1", sha256: "sha256:" + sha, wantErr: "64 lower-case hex"},
		{name: "upper case digest", url: "oci://r/x:v1", sha256: strings.ToUpper(sha), wantErr: "64 lower-case hex"},
		{name: "placeholder sha with a real url", url: "oci://r/x:v1", sha256: oci.PlaceholderSHA256, wantErr: "64 lower-case hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			patch, err := oci.IstioImagePatch(tt.url, tt.sha256)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"kind: WasmPlugin", "  url: " + tt.url + "\n", "  sha256: " + tt.sha256 + "\n"} {
				if !strings.Contains(string(patch), want) {
					t.Errorf("patch lacks %q:\n%s", want, patch)
				}
			}
		})
	}
}

func TestFetchAsIstioRefusesOtherSchemes(t *testing.T) {
	_, err := oci.FetchAsIstio(t.Context(), "https://example.com/plugin.wasm", "")
	if err == nil || errors.Is(err, oci.ErrChecksumMismatch) || !strings.Contains(err.Error(), "not an oci:// url") {
		t.Fatalf("error = %v, want a refusal of the scheme", err)
	}
}
