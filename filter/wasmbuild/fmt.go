package wasmbuild

import (
	"bytes"
	_ "embed" // the module's fmt
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FmtDir is the standard library package the build replaces, relative to
// GOROOT/src: every one of its non-test files is overlaid, the first with
// the module's fmt (internal/fmtlite) and the others with an empty file of
// the package.
const FmtDir = "fmt"

// fmtliteSource is internal/fmtlite, whose package clause PatchFmt makes
// "package fmt".
//
//go:embed internal/fmtlite/fmtlite.go
var fmtliteSource []byte

const (
	fmtliteClause = "\npackage fmtlite\n"
	fmtClause     = "\npackage fmt\n"
)

// PatchFmt returns internal/fmtlite's source as a file of package fmt.
func PatchFmt() ([]byte, error) {
	if n := bytes.Count(fmtliteSource, []byte(fmtliteClause)); n != 1 {
		return nil, fmt.Errorf("fmt patch: internal/fmtlite/fmtlite.go has %d package clauses %q, want one", n, strings.TrimSpace(fmtliteClause))
	}
	return bytes.Replace(fmtliteSource, []byte(fmtliteClause), []byte(fmtClause), 1), nil
}

// fmtReplacements writes the module's fmt and an empty file of package
// fmt into dir and returns what the overlay replaces: each non-test .go
// file of GOROOT's fmt by one of them.
func fmtReplacements(goroot, dir string) (map[string]string, error) {
	fmtDir := filepath.Join(goroot, "src", FmtDir)
	entries, err := os.ReadDir(fmtDir)
	if err != nil {
		return nil, fmt.Errorf("fmt patch: %w", err)
	}
	var files []string
	for _, e := range entries {
		if name := e.Name(); !e.IsDir() && strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			files = append(files, filepath.Join(fmtDir, name))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("fmt patch: no Go files in %s", fmtDir)
	}
	sort.Strings(files)
	lite, err := PatchFmt()
	if err != nil {
		return nil, err
	}
	litePath, emptyPath := filepath.Join(dir, "fmt_module.go"), filepath.Join(dir, "fmt_empty.go")
	if err := writeIfChanged(litePath, lite); err != nil {
		return nil, err
	}
	if err := writeIfChanged(emptyPath, []byte("// A file of package fmt emptied by filter/wasmbuild (see fmt_module.go).\n\npackage fmt\n")); err != nil {
		return nil, err
	}
	replace := map[string]string{files[0]: litePath}
	for _, f := range files[1:] {
		replace[f] = emptyPath
	}
	return replace, nil
}
