package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/oci"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/oci/ocitest"
)

func writeFakeModule(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(path, []byte("\x00asm\x01\x00\x00\x00cmd-test"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var digestLine = regexp.MustCompile(`(?m)^image digest:  sha256:([a-f0-9]{64})$`)

// TestBuildThenPush runs the two commands as `make image` and
// `make push` do and checks what they print and write.
func TestBuildThenPush(t *testing.T) {
	registry := ocitest.StartRegistry(t)
	module := writeFakeModule(t)
	layoutDir := filepath.Join(t.TempDir(), "oci")
	var out bytes.Buffer
	err := run(t.Context(), []string{"build", "-wasm", module, "-out", layoutDir,
		"-source", "https://example.com/repo", "-version", "v0.1.0-2-gabc-dirty", "-revision", "abc",
		"-created", "2026-03-04T05:06:07Z"}, &out, &out)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	m := digestLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("build output has no image digest line:\n%s", out.String())
	}
	digest := m[1]
	if !strings.Contains(out.String(), "tag v0.1.0-2-gabc-dirty") {
		t.Errorf("build output does not name the tag:\n%s", out.String())
	}

	patchPath := filepath.Join(t.TempDir(), "out", "istio-image.yaml")
	out.Reset()
	if err := run(t.Context(), []string{"push", "-layout", layoutDir, "-to", registry + "/team/mcp-ratelimit", "-patch", patchPath}, &out, &out); err != nil {
		t.Fatalf("push: %v\n%s", err, out.String())
	}
	wantURL := "oci://" + registry + "/team/mcp-ratelimit:v0.1.0-2-gabc-dirty"
	for _, want := range []string{"WasmPlugin url:    " + wantURL, "WasmPlugin sha256: " + digest} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("push output lacks %q:\n%s", want, out.String())
		}
	}
	patch, err := os.ReadFile(patchPath)
	if err != nil {
		t.Fatal(err)
	}
	wantPatch, err := oci.IstioImagePatch(wantURL, digest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(patch, wantPatch) {
		t.Errorf("patch file:\n%s\nwant:\n%s", patch, wantPatch)
	}
	fetched, err := oci.FetchAsIstio(t.Context(), wantURL, digest)
	if err != nil {
		t.Fatalf("pulling what push published: %v", err)
	}
	if want, _ := os.ReadFile(module); !bytes.Equal(fetched.Module, want) {
		t.Errorf("pulled module differs from the input")
	}
}

func TestCommandLineErrors(t *testing.T) {
	module := writeFakeModule(t)
	notWasm := filepath.Join(t.TempDir(), "x.txt")
	if err := os.WriteFile(notWasm, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "oci")
	meta := []string{"-source", "s", "-version", "v1", "-revision", "r"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no command", nil, "usage:"},
		{"unknown command", []string{"publish"}, `unknown command "publish"`},
		{"build without flags", []string{"build"}, "-wasm and -out are required"},
		{"build missing module", append([]string{"build", "-wasm", "/nonexistent.wasm", "-out", out}, meta...), "make build"},
		{"build not wasm", append([]string{"build", "-wasm", notWasm, "-out", out}, meta...), "not a WebAssembly binary"},
		{"build without revision", []string{"build", "-wasm", module, "-out", out, "-source", "s", "-version", "v1"}, "revision is empty"},
		{"build bad created", append([]string{"build", "-wasm", module, "-out", out, "-created", "yesterday"}, meta...), "-created"},
		{"build unknown flag", []string{"build", "-wasmm", module}, "flag provided but not defined"},
		{"push without flags", []string{"push"}, "make push REGISTRY="},
		{"push without layout", []string{"push", "-layout", filepath.Join(t.TempDir(), "none"), "-to", "127.0.0.1:1/x"}, "make image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := run(t.Context(), tt.args, &buf, &buf)
			if err == nil {
				t.Fatalf("run(%q) succeeded, want an error", tt.args)
			}
			if msg := err.Error() + buf.String(); !strings.Contains(msg, tt.wantErr) {
				t.Errorf("error %q (output %q) lacks %q", err, buf.String(), tt.wantErr)
			}
			if tt.name == "no command" && !errors.Is(err, errUsage) {
				t.Errorf("error is not the usage")
			}
		})
	}
}
