package wasmbuild

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SDKModule is the module path of the proxy-wasm Go SDK the glue is written
// for, and SDKVersion the only version it is written for.
const (
	SDKModule  = "github.com/tetratelabs/proxy-wasm-go-sdk"
	SDKVersion = "v0.24.0"
)

// GluePackageDir is the SDK package, relative to the SDK module root, that
// the glue files are added to.
const GluePackageDir = "proxywasm/internal"

// SyncSDKCopy makes dst an exact, writable copy of the SDK module at src
// plus the glue files (every *.go file directly in glueDir) in dst's
// proxywasm/internal package. Files that already have the right content
// are left alone and files that do not belong there (for example a glue
// file that was renamed since the last build) are removed, so repeated and
// concurrent builds see a stable tree. It returns the glue files'
// destination paths.
func SyncSDKCopy(src, glueDir, dst string) ([]string, error) {
	want, err := readModule(src)
	if err != nil {
		return nil, fmt.Errorf("reading the SDK: %w", err)
	}

	glue, err := filepath.Glob(filepath.Join(glueDir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("listing glue files in %s: %w", glueDir, err)
	}
	if len(glue) == 0 {
		return nil, fmt.Errorf("no glue files (*.go) in %s", glueDir)
	}
	var glueDst []string
	for _, g := range glue {
		rel := filepath.Join(GluePackageDir, filepath.Base(g))
		if _, clash := want[rel]; clash {
			return nil, fmt.Errorf("glue file %s would replace the SDK's own %s; glue may only add files", g, rel)
		}
		data, err := os.ReadFile(g)
		if err != nil {
			return nil, fmt.Errorf("reading glue file: %w", err)
		}
		want[rel] = data
		glueDst = append(glueDst, filepath.Join(dst, rel))
	}

	if err := writeTree(dst, want); err != nil {
		return nil, fmt.Errorf("copying the SDK to %s: %w", dst, err)
	}
	sort.Strings(glueDst)
	return glueDst, nil
}

// SyncModuleCopy makes dst an exact, writable copy of the module at src,
// rewriting only what differs, as SyncSDKCopy does.
func SyncModuleCopy(src, dst string) error {
	files, err := readModule(src)
	if err != nil {
		return err
	}
	if err := writeTree(dst, files); err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return nil
}

// readModule reads every regular file of the module at src (relative path
// to content); a module has a go.mod.
func readModule(src string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[rel] = data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the module at %s: %w", src, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("the module at %s has no files", src)
	}
	if _, ok := files["go.mod"]; !ok {
		return nil, fmt.Errorf("the module at %s has no go.mod", src)
	}
	return files, nil
}

// writeTree makes the regular files under dir exactly files (relative path
// to content), writing only what differs.
func writeTree(dir string, files map[string][]byte) error {
	for rel, data := range files {
		path := filepath.Join(dir, rel)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			if err := os.Chmod(path, 0o644); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := writeFileAtomic(path, data); err != nil {
			return err
		}
	}
	// Remove what does not belong, deepest first so emptied folders go too.
	var extra []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			return nil // another build's file in the middle of writeFileAtomic
		}
		if d.IsDir() {
			if !hasPrefixDir(files, rel) {
				extra = append(extra, path)
				return filepath.SkipDir
			}
			return nil
		}
		if _, ok := files[rel]; !ok {
			extra = append(extra, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, path := range extra {
		if err := os.RemoveAll(path); err != nil {
			return err
		}
	}
	return nil
}

// hasPrefixDir reports whether any file lies under the folder rel.
func hasPrefixDir(files map[string][]byte, rel string) bool {
	prefix := rel + string(filepath.Separator)
	for f := range files {
		if strings.HasPrefix(f, prefix) {
			return true
		}
	}
	return false
}

// writeFileAtomic writes data to path through a temporary file in the same
// folder and a rename, so a concurrent reader sees the old or the new
// content, never a partial file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644)); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}
