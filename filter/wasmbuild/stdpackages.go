package wasmbuild

import (
	"bytes"
	_ "embed" // the module's own standard library packages
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// A StdPackage is a standard library package that the module build
// replaces with a smaller one of its own: every non-test file of the
// package in GOROOT/src is overlaid, the first with the module's package
// (a one-file package under internal/, its clause made the standard
// package's) and the others with an empty file of the package.
type StdPackage struct {
	// Dir is the package's import path, which is also its directory
	// under GOROOT/src ("fmt", "internal/godebug").
	Dir string
	// Lite is the module's own package that replaces it, relative to
	// this package ("internal/fmtlite").
	Lite   string
	source []byte
}

//go:embed internal/fmtlite/fmtlite.go
var fmtliteSource []byte

//go:embed internal/godebuglite/godebuglite.go
var godebugliteSource []byte

// StdPackages are the standard library packages the build replaces (see
// README.md, "Module size"): fmt, whose printer formats any value through
// reflection, and internal/godebug, which brings the runtime's metrics
// tables and internal/bisect for one setting of package time.
var StdPackages = []StdPackage{
	{Dir: "fmt", Lite: "internal/fmtlite", source: fmtliteSource},
	{Dir: "internal/godebug", Lite: "internal/godebuglite", source: godebugliteSource},
}

// Name is the standard package's name, which the replacement's file
// declares.
func (p StdPackage) Name() string { return path.Base(p.Dir) }

// Patch returns the replacing package's one file with its package clause
// made the standard package's.
func (p StdPackage) Patch() ([]byte, error) {
	from := "\npackage " + path.Base(p.Lite) + "\n"
	if n := bytes.Count(p.source, []byte(from)); n != 1 {
		return nil, fmt.Errorf("%s patch: %s has %d package clauses %q, want one", p.Dir, p.Lite, n, strings.TrimSpace(from))
	}
	return bytes.Replace(p.source, []byte(from), []byte("\npackage "+p.Name()+"\n"), 1), nil
}

// replacements writes the replacing file (<name>_module.go) and an empty
// file of the package (<name>_empty.go) into dir and returns what the
// overlay replaces: each non-test .go file of the package in GOROOT by
// one of them.
func (p StdPackage) replacements(goroot, dir string) (map[string]string, error) {
	stdDir := filepath.Join(goroot, "src", filepath.FromSlash(p.Dir))
	entries, err := os.ReadDir(stdDir)
	if err != nil {
		return nil, fmt.Errorf("%s patch: %w", p.Dir, err)
	}
	var files []string
	for _, e := range entries {
		if name := e.Name(); !e.IsDir() && strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			files = append(files, filepath.Join(stdDir, name))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s patch: no Go files in %s", p.Dir, stdDir)
	}
	sort.Strings(files)
	lite, err := p.Patch()
	if err != nil {
		return nil, err
	}
	litePath, emptyPath := filepath.Join(dir, p.Name()+"_module.go"), filepath.Join(dir, p.Name()+"_empty.go")
	if err := writeIfChanged(litePath, lite); err != nil {
		return nil, err
	}
	empty := fmt.Sprintf("// A file of package %s emptied by filter/wasmbuild (see %s_module.go).\n\npackage %s\n", p.Name(), p.Name(), p.Name())
	if err := writeIfChanged(emptyPath, []byte(empty)); err != nil {
		return nil, err
	}
	replace := map[string]string{files[0]: litePath}
	for _, f := range files[1:] {
		replace[f] = emptyPath
	}
	return replace, nil
}
