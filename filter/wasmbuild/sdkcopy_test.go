package wasmbuild

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// writeFiles creates files (relative path -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns the regular files under dir (relative path -> content).
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// makeReadOnly makes a tree read-only, like the module cache.
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	var dirs []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			dirs = append(dirs, path)
		} else {
			_ = os.Chmod(path, 0o444)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		_ = os.Chmod(d, 0o555)
	}
	t.Cleanup(func() {
		for _, d := range dirs {
			_ = os.Chmod(d, 0o755)
		}
	})
}

func TestSyncSDKCopy(t *testing.T) {
	sdk := t.TempDir()
	writeFiles(t, sdk, map[string]string{
		"go.mod":                     "module github.com/tetratelabs/proxy-wasm-go-sdk\n",
		"proxywasm/internal/a.go":    "package internal\n",
		"proxywasm/types/types.go":   "package types\n",
		"examples/x/main.go":         "package main\n",
		"proxywasm/internal/doc.txt": "text",
	})
	makeReadOnly(t, sdk)
	glue := t.TempDir()
	writeFiles(t, glue, map[string]string{"glue_a.go": "package internal // a\n", "README.md": "not copied"})
	dst := filepath.Join(t.TempDir(), "sdk")

	want := map[string]string{
		"go.mod":                       "module github.com/tetratelabs/proxy-wasm-go-sdk\n",
		"proxywasm/internal/a.go":      "package internal\n",
		"proxywasm/types/types.go":     "package types\n",
		"examples/x/main.go":           "package main\n",
		"proxywasm/internal/doc.txt":   "text",
		"proxywasm/internal/glue_a.go": "package internal // a\n",
	}
	check := func(t *testing.T) {
		t.Helper()
		got := readTree(t, dst)
		if len(got) != len(want) {
			t.Errorf("copy has %d files, want %d: %v", len(got), len(want), got)
		}
		for rel, content := range want {
			if got[rel] != content {
				t.Errorf("%s = %q, want %q", rel, got[rel], content)
			}
			info, err := os.Stat(filepath.Join(dst, rel))
			if err == nil && info.Mode().Perm()&0o200 == 0 {
				t.Errorf("%s is not writable (%v)", rel, info.Mode())
			}
		}
	}

	t.Run("first copy", func(t *testing.T) {
		files, err := SyncSDKCopy(sdk, glue, dst)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 || files[0] != filepath.Join(dst, "proxywasm", "internal", "glue_a.go") {
			t.Errorf("glue files = %v", files)
		}
		check(t)
	})
	t.Run("unchanged files are not rewritten", func(t *testing.T) {
		path := filepath.Join(dst, "proxywasm", "types", "types.go")
		before, _ := os.Stat(path)
		if _, err := SyncSDKCopy(sdk, glue, dst); err != nil {
			t.Fatal(err)
		}
		after, _ := os.Stat(path)
		if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
			t.Error("an unchanged file was rewritten")
		}
	})
	t.Run("changed, renamed and stray files", func(t *testing.T) {
		if err := os.Remove(filepath.Join(glue, "glue_a.go")); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, glue, map[string]string{"glue_b.go": "package internal // b\n"})
		writeFiles(t, dst, map[string]string{"stray/x.go": "package stray\n", "proxywasm/internal/a.go": "edited"})
		delete(want, "proxywasm/internal/glue_a.go")
		want["proxywasm/internal/glue_b.go"] = "package internal // b\n"
		if _, err := SyncSDKCopy(sdk, glue, dst); err != nil {
			t.Fatal(err)
		}
		check(t)
		if _, err := os.Stat(filepath.Join(dst, "stray")); !os.IsNotExist(err) {
			t.Errorf("the stray folder was not removed (%v)", err)
		}
	})
}

func TestSyncSDKCopyRejects(t *testing.T) {
	sdkFiles := map[string]string{"go.mod": "module m\n", "proxywasm/internal/a.go": "package internal\n"}
	tests := []struct {
		name string
		sdk  map[string]string
		glue map[string]string
		want string
	}{
		{"glue replacing an SDK file", sdkFiles, map[string]string{"a.go": "package internal\n"}, "glue may only add files"},
		{"no glue", sdkFiles, map[string]string{"README.md": "x"}, "no glue files"},
		{"SDK without go.mod", map[string]string{"x.go": "package x\n"}, map[string]string{"g.go": "package internal\n"}, "has no go.mod"},
		{"empty SDK", map[string]string{}, map[string]string{"g.go": "package internal\n"}, "has no files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sdk, glue := t.TempDir(), t.TempDir()
			writeFiles(t, sdk, tc.sdk)
			writeFiles(t, glue, tc.glue)
			_, err := SyncSDKCopy(sdk, glue, filepath.Join(t.TempDir(), "sdk"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := SyncSDKCopy(filepath.Join(t.TempDir(), "missing"), t.TempDir(), t.TempDir()); err == nil {
		t.Error("accepted a missing SDK folder")
	}
}

// TestSyncSDKCopyOfTheRealSDK copies the SDK from the module cache with the
// project's glue and checks the copy: every SDK file byte for byte, plus
// the glue files and nothing else. This is what "the SDK unchanged" means.
func TestSyncSDKCopyOfTheRealSDK(t *testing.T) {
	root := repoRoot(t)
	w := &Workspace{cfg: Config{RepoRoot: root, Go: "go"}}
	sdk, err := w.sdkDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	glueDir := filepath.Join(root, "filter", "wasmbuild", "_glue")
	dst := filepath.Join(t.TempDir(), "sdk")
	glueFiles, err := SyncSDKCopy(sdk, glueDir, dst)
	if err != nil {
		t.Fatal(err)
	}
	original, copied := readTree(t, sdk), readTree(t, dst)
	for rel, content := range original {
		if copied[rel] != content {
			t.Errorf("%s differs from the module cache's", rel)
		}
	}
	var extra []string
	for rel := range copied {
		if _, ok := original[rel]; !ok {
			extra = append(extra, rel)
		}
	}
	sort.Strings(extra)
	if len(extra) != len(glueFiles) || len(extra) < 2 {
		t.Fatalf("files added to the SDK: %v, glue files: %v", extra, glueFiles)
	}
	for i, rel := range extra {
		if !strings.HasPrefix(rel, GluePackageDir+"/") || filepath.Join(dst, rel) != glueFiles[i] {
			t.Errorf("added %s, want only glue files in %s", rel, GluePackageDir)
		}
		glue, _ := os.ReadFile(filepath.Join(glueDir, filepath.Base(rel)))
		if !bytes.Equal(glue, []byte(copied[rel])) {
			t.Errorf("%s differs from its glue file", rel)
		}
	}
}

// repoRoot finds the repository root from the test's folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if mod, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(mod), "module github.com/mcp-ratelimit/mcp-ratelimit-wasm\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no repository root above the test's folder")
		}
		dir = parent
	}
}
