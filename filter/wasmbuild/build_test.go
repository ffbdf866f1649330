package wasmbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteGoWork(t *testing.T) {
	tests := []struct {
		name    string
		workDir func(repo string) string
		wantUse []string
	}{
		{"work dir inside the repository", func(repo string) string { return filepath.Join(repo, "build") }, []string{"\t..\n", "\t./sdk\n", "\t./gjson\n"}},
		{"work dir elsewhere", func(string) string { return filepath.Join(os.TempDir(), "elsewhere-"+t.Name()) }, []string{"\t./sdk\n", "\t./gjson\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			writeFiles(t, repo, map[string]string{"go.mod": "module example.com/p\n\ngo 1.26.0\n\nrequire x v1.0.0\n"})
			work := tc.workDir(repo)
			if err := os.MkdirAll(work, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.RemoveAll(work) })
			path, err := writeGoWork(work, repo, filepath.Join(work, "sdk"), filepath.Join(work, "gjson"))
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			content := string(data)
			for _, want := range append(tc.wantUse, "\ngo 1.26.0\n", "use (\n") {
				if !strings.Contains(content, want) {
					t.Errorf("go.work lacks %q:\n%s", want, content)
				}
			}
			rel, _ := filepath.Rel(work, repo)
			if !strings.Contains(content, "\t"+workRel(rel)+"\n") {
				t.Errorf("go.work does not use the project (%s):\n%s", workRel(rel), content)
			}
		})
	}
	t.Run("go.mod without go directive", func(t *testing.T) {
		repo := t.TempDir()
		writeFiles(t, repo, map[string]string{"go.mod": "module example.com/p\n"})
		if _, err := writeGoWork(t.TempDir(), repo, t.TempDir(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "no go directive") {
			t.Errorf("error %v, want a missing go directive", err)
		}
	})
}

func TestWorkRel(t *testing.T) {
	for in, want := range map[string]string{".": ".", "..": "..", "../a": "../a", "sdk": "./sdk", "a/b": "./a/b"} {
		if got := workRel(in); got != want {
			t.Errorf("workRel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsOwnFile(t *testing.T) {
	w := &Workspace{
		cfg:       Config{RepoRoot: "/repo", WorkDir: "/repo/build"},
		glueFiles: []string{"/repo/build/sdk/proxywasm/internal/glue_a.go"},
	}
	for path, want := range map[string]bool{
		"/repo/filter/vm.go": true,
		"/repo/main.go":      true,
		"/repo/build/sdk/proxywasm/internal/glue_a.go":         true,
		"/repo/build/sdk/proxywasm/internal/hostcall_utils.go": false,
		"/elsewhere/x.go":  false,
		"/repository/x.go": false,
	} {
		if got := w.isOwnFile(path); got != want {
			t.Errorf("isOwnFile(%s) = %t, want %t", path, got, want)
		}
	}
}

func TestPrepareRejects(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no repository root", Config{WorkDir: t.TempDir()}, "RepoRoot and WorkDir are required"},
		{"no work dir", Config{RepoRoot: t.TempDir()}, "RepoRoot and WorkDir are required"},
		{"no go command", Config{RepoRoot: t.TempDir(), WorkDir: t.TempDir(), Go: filepath.Join(t.TempDir(), "no-go")}, "env -json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Prepare(ctx, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if err := (&Workspace{}).Build(ctx, Target{}); err == nil {
		t.Error("Build accepted an empty target")
	}
}

// TestVetCoversTheGlue prepares a workspace and vets the probe plugin for
// wasip1: the SDK's own three findings are ignored and counted, the glue
// is vetted (TestVetFailsOnGlueFindings shows a glue finding fails).
func TestVetCoversTheGlue(t *testing.T) {
	root := repoRoot(t)
	ws, err := Prepare(context.Background(), Config{RepoRoot: root, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	report, err := ws.Vet(context.Background(), "./filter/wasmtest/testdata/probe")
	if err != nil {
		t.Fatal(err)
	}
	vettedInternal := false
	for _, p := range report.Packages {
		vettedInternal = vettedInternal || p == SDKModule+"/"+GluePackageDir
	}
	if !vettedInternal {
		t.Errorf("the glue's package was not vetted: %v", report.Packages)
	}
	if report.IgnoredSDKFindings != 3 {
		t.Errorf("%d SDK findings ignored, want the 3 of SDK v0.24.0 (reflect.SliceHeader)", report.IgnoredSDKFindings)
	}
}

// TestVetFailsOnGlueFindings adds a glue file with a printf mistake to the
// real glue and checks that Vet fails on it, naming the file.
func TestVetFailsOnGlueFindings(t *testing.T) {
	root := repoRoot(t)
	glue := t.TempDir()
	real, err := filepath.Glob(filepath.Join(root, "filter", "wasmbuild", "_glue", "*.go"))
	if err != nil || len(real) == 0 {
		t.Fatalf("no glue files (%v)", err)
	}
	for _, f := range real {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, glue, map[string]string{filepath.Base(f): string(data)})
	}
	writeFiles(t, glue, map[string]string{"zz_bad.go": "package internal\n\nimport \"fmt\"\n\n" +
		"// glueBad misuses a format.\nfunc glueBad() string { return fmt.Sprintf(\"%d\", \"not a number\") }\n"})
	ws, err := Prepare(context.Background(), Config{RepoRoot: root, WorkDir: t.TempDir(), GlueDir: glue})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ws.Vet(context.Background(), "./filter/wasmtest/testdata/probe")
	if err == nil {
		t.Fatal("vet passed a glue file with a printf mistake")
	}
	for _, want := range []string{"zz_bad.go", "printf", "1 problem"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestBuildRefusesDefaultGODEBUG checks that Build refuses, before
// compiling, a main package whose //go:debug line sets a GODEBUG default
// that the module's internal/godebug would ignore.
func TestBuildRefusesDefaultGODEBUG(t *testing.T) {
	ws, err := Prepare(context.Background(), Config{RepoRoot: repoRoot(t), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "godebug.wasm")
	err = ws.Build(context.Background(), Target{Package: "./filter/wasmbuild/testdata/godebug", Output: out})
	wantError(t, err, "./filter/wasmbuild/testdata/godebug", `default GODEBUG "asynctimerchan=1"`, "//go:debug")
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Errorf("Build wrote %s for a refused package (%v)", out, statErr)
	}
}

// TestWriteOverlays checks the two -overlay files and their failure on a
// GOROOT or a gjson whose code does not match.
func TestWriteOverlays(t *testing.T) {
	netpoll, goVersion := installedNetpoll(t)
	gjson, gjsonVersion := requiredGJSON(t)
	fakeGoroot := func(t *testing.T, content []byte) string {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{
			filepath.Join("src", filepath.FromSlash(NetpollFile)):     string(content),
			filepath.Join("src", "fmt", "print.go"):                   "package fmt\n",
			filepath.Join("src", "fmt", "scan.go"):                    "package fmt\n",
			filepath.Join("src", "fmt", "print_test.go"):              "package fmt\n",
			filepath.Join("src", "internal", "godebug", "godebug.go"): "package godebug\n",
		})
		return root
	}
	fakeGJSON := func(t *testing.T, content []byte) string {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{GJSONFile: string(content)})
		return dir
	}
	readOverlay := func(t *testing.T, path string) map[string]string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var o struct{ Replace map[string]string }
		if err := json.Unmarshal(data, &o); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return o.Replace
	}
	t.Run("matching runtime and gjson", func(t *testing.T) {
		goroot, gjsonDir, work := fakeGoroot(t, netpoll), fakeGJSON(t, gjson), t.TempDir()
		overlay, stock, err := writeOverlays(work, goroot, goVersion, gjsonDir, gjsonVersion)
		if err != nil {
			t.Fatal(err)
		}
		runtimeFile := filepath.Join(goroot, "src", "runtime", "netpoll_wasip1.go")
		gjsonFile := filepath.Join(gjsonDir, "gjson.go")
		runtimePatched := filepath.Join(work, "_overlay", "netpoll_wasip1.go")
		gjsonPatched := filepath.Join(work, "_overlay", "gjson.go")
		fmtPrint, fmtScan := filepath.Join(goroot, "src", "fmt", "print.go"), filepath.Join(goroot, "src", "fmt", "scan.go")
		fmtModule, fmtEmpty := filepath.Join(work, "_overlay", "fmt_module.go"), filepath.Join(work, "_overlay", "fmt_empty.go")
		godebugFile, godebugModule := filepath.Join(goroot, "src", "internal", "godebug", "godebug.go"), filepath.Join(work, "_overlay", "godebug_module.go")
		for _, c := range []struct {
			path string
			want map[string]string
		}{
			{overlay, map[string]string{runtimeFile: runtimePatched, gjsonFile: gjsonPatched, fmtPrint: fmtModule, fmtScan: fmtEmpty, godebugFile: godebugModule}},
			{stock, map[string]string{gjsonFile: gjsonPatched, fmtPrint: fmtModule, fmtScan: fmtEmpty, godebugFile: godebugModule}},
		} {
			got := readOverlay(t, c.path)
			if len(got) != len(c.want) {
				t.Errorf("%s replaces %v, want %v", c.path, got, c.want)
			}
			for from, to := range c.want {
				if got[from] != to {
					t.Errorf("%s replaces %s with %q, want %s", c.path, from, got[from], to)
				}
			}
		}
		if data, err := os.ReadFile(runtimePatched); err != nil || !bytes.Contains(data, []byte("netpollENOSYS")) {
			t.Errorf("%s is not the patched runtime file (%v)", runtimePatched, err)
		}
		if data, err := os.ReadFile(gjsonPatched); err != nil || !bytes.Contains(data, []byte(gjsonInitReplacement)) {
			t.Errorf("%s is not the patched gjson file (%v)", gjsonPatched, err)
		}
		if data, err := os.ReadFile(fmtModule); err != nil || !bytes.Contains(data, []byte("\npackage fmt\n")) || !bytes.Contains(data, []byte("func Errorf(")) {
			t.Errorf("%s is not the module's fmt (%v)", fmtModule, err)
		}
		if data, err := os.ReadFile(godebugModule); err != nil || !bytes.Contains(data, []byte("\npackage godebug\n")) || !bytes.Contains(data, []byte("func (s *Setting) Value(")) {
			t.Errorf("%s is not the module's internal/godebug (%v)", godebugModule, err)
		}
	})
	for _, p := range StdPackages {
		t.Run("no "+p.Dir, func(t *testing.T) {
			goroot := fakeGoroot(t, netpoll)
			dir := filepath.Join(goroot, "src", filepath.FromSlash(p.Dir))
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			_, _, err := writeOverlays(t.TempDir(), goroot, goVersion, fakeGJSON(t, gjson), gjsonVersion)
			wantError(t, err, p.Dir+" patch", dir)
		})
	}
	t.Run("other runtime", func(t *testing.T) {
		goroot := fakeGoroot(t, []byte("package runtime\n"))
		_, _, err := writeOverlays(t.TempDir(), goroot, "go9.99", fakeGJSON(t, gjson), gjsonVersion)
		wantError(t, err, "runtime patch does not apply", "go9.99", filepath.Join(goroot, "src", "runtime", "netpoll_wasip1.go"))
	})
	t.Run("other gjson", func(t *testing.T) {
		gjsonDir := fakeGJSON(t, []byte("package gjson\n"))
		_, _, err := writeOverlays(t.TempDir(), fakeGoroot(t, netpoll), goVersion, gjsonDir, "v9.99.0")
		wantError(t, err, "gjson patch does not apply", "v9.99.0", filepath.Join(gjsonDir, "gjson.go"))
	})
	t.Run("no runtime", func(t *testing.T) {
		_, _, err := writeOverlays(t.TempDir(), t.TempDir(), "go9.99", fakeGJSON(t, gjson), gjsonVersion)
		wantError(t, err, "netpoll_wasip1.go")
	})
	t.Run("no gjson", func(t *testing.T) {
		_, _, err := writeOverlays(t.TempDir(), fakeGoroot(t, netpoll), goVersion, t.TempDir(), gjsonVersion)
		wantError(t, err, "gjson.go")
	})
}

// wantError fails unless err mentions every one of wants.
func wantError(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestThreadJumpsRefusesWhatItCannotRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "module.wasm")
	// A module whose one function holds an instruction the rewrite does
	// not know (0xfd, SIMD), inside Go's dispatch loop.
	module := []byte("\x00asm\x01\x00\x00\x00")
	body := []byte{0, 0x02, 0x40, 0x03, 0x40, 0x02, 0x40, 0x20, 0, 0x0e, 0, 0, 0x0b, 0xfd, 0x0c, 0x0b, 0x0b, 0x0b}
	module = append(module, 10, byte(len(body)+2), 1, byte(len(body)))
	module = append(module, body...)
	if err := os.WriteFile(path, module, 0o644); err != nil {
		t.Fatal(err)
	}
	err := threadJumps(path)
	if err == nil || !strings.Contains(err.Error(), "unknown opcode 0xfd") || !strings.Contains(err.Error(), "-dispatch-jumps") {
		t.Fatalf("error %v, want the unknown opcode and -dispatch-jumps named", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, module) {
		t.Errorf("the module was changed")
	}
}
