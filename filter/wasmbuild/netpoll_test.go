package wasmbuild

import (
	"bytes"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// installedGo returns GOROOT and GOVERSION of the go command on PATH,
// the toolchain `make build` uses.
func installedGo(t *testing.T) (goroot, version string) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT", "GOVERSION").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 2 {
		t.Fatalf("go env printed %q", out)
	}
	return fields[0], fields[1]
}

// installedNetpoll reads the installed Go's runtime/netpoll_wasip1.go.
func installedNetpoll(t *testing.T) (src []byte, version string) {
	t.Helper()
	goroot, version := installedGo(t)
	src, err := os.ReadFile(filepath.Join(goroot, "src", filepath.FromSlash(NetpollFile)))
	if err != nil {
		t.Fatal(err)
	}
	return src, version
}

// TestPatchNetpollAppliesToInstalledGo checks that the patch applies to the
// Go that builds the module, and that the result is valid, formatted Go
// that differs from the original only by the two additions.
func TestPatchNetpollAppliesToInstalledGo(t *testing.T) {
	src, version := installedNetpoll(t)
	out, err := PatchNetpoll(src, version)
	if err != nil {
		t.Fatalf("the runtime patch does not apply to %s: %v", version, err)
	}
	if _, err := parser.ParseFile(token.NewFileSet(), NetpollFile, out, parser.AllErrors); err != nil {
		t.Fatalf("the patched file does not parse: %v", err)
	}
	formatted, err := format.Source(out)
	if err != nil || !bytes.Equal(formatted, out) {
		t.Errorf("the patched file is not gofmt-formatted (%v)", err)
	}
	for _, want := range []string{
		"const netpollENOSYS = 52",
		"if delay == 0 && len(pollsubs) == 1 {",
		"if errno == netpollENOSYS {",
		`throw("poll_oneoff failed")`, // other errors still throw
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the patched file lacks %q", want)
		}
	}
	// Removing the additions gives back the original.
	undone := bytes.Replace(out, []byte(netpollConstAddition), nil, 1)
	undone = bytes.Replace(undone, []byte(netpollCallReplacement), []byte(netpollCallAnchor), 1)
	if !bytes.Equal(undone, src) {
		t.Error("the patch changes more than its two additions")
	}
}

// TestPatchNetpollRefusesUnexpectedSource checks that the patch fails,
// naming the file and the Go version, whenever the code it changes is not
// exactly what it expects.
func TestPatchNetpollRefusesUnexpectedSource(t *testing.T) {
	src, version := installedNetpoll(t)
	patched, err := PatchNetpoll(src, version)
	if err != nil {
		t.Fatal(err)
	}
	tests := []patchRefusal{
		{"empty file", nil, "does not contain the expected code"},
		{"EINTR constant renamed", bytes.Replace(src, []byte("const _EINTR = 27"), []byte("const _EINTR errno = 27"), 1),
			"does not contain the expected code"},
		{"error handling changed", bytes.Replace(src, []byte(`throw("poll_oneoff failed")`), []byte(`throw("poll failed")`), 1),
			"does not contain the expected code"},
		{"retry loop changed", bytes.Replace(src, []byte("\t\tgoto retry\n"), []byte("\t\treturn gList{}, 0\n"), 1),
			"does not contain the expected code"},
		{"code to patch twice", append(bytes.Clone(src), []byte("\nfunc f() {\n"+netpollCallAnchor+"}\n")...), "2 times, want once"},
		{"already patched", patched, "does not contain the expected code"},
		{"patch name taken", append(bytes.Clone(src), []byte("\n// netpollENOSYS\n")...), "already mentions netpollENOSYS"},
	}
	checkPatchRefuses(t, PatchNetpoll, version, tests, NetpollFile)
}

// patchRefusal is a source a patch must refuse and what its error says.
type patchRefusal struct {
	name string
	src  []byte
	want string
}

// checkPatchRefuses runs patch over each refusal and checks that it fails
// with an error that says the refusal's words and names version and
// every one of mentions (the patched file, its module).
func checkPatchRefuses(t *testing.T, patch func([]byte, string) ([]byte, error), version string, refusals []patchRefusal, mentions ...string) {
	t.Helper()
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			out, err := patch(tc.src, version)
			if err == nil {
				t.Fatalf("applied; returned %d bytes", len(out))
			}
			for _, want := range append([]string{tc.want, version}, mentions...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}
