package wasmbuild

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestPatchFmtKeepsFmtsAPI checks that the module's fmt is a file of
// package fmt that declares every exported name of the installed Go's fmt,
// with the same kind of declaration, so that every package of the build
// compiles against it.
func TestPatchFmtKeepsFmtsAPI(t *testing.T) {
	src, err := PatchFmt()
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	lite, err := parser.ParseFile(fset, "fmt_module.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	if lite.Name.Name != "fmt" {
		t.Fatalf("the module's fmt is package %s, want fmt", lite.Name.Name)
	}
	want := map[string]string{}
	goroot, _ := installedGo(t)
	dir := filepath.Join(goroot, "src", FmtDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for name, kind := range exportedDecls(f) {
			want[name] = kind
		}
	}
	got := exportedDecls(lite)
	var missing []string
	for name, kind := range want {
		if got[name] != kind {
			missing = append(missing, name+" ("+kind+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the module's fmt lacks %s of Go's fmt", strings.Join(missing, ", "))
	}
	if len(want) < 25 {
		t.Errorf("found %d exported names in %s; Go's fmt has more", len(want), dir)
	}
}

// exportedDecls maps the exported top-level names of f to "func", "type",
// "var" or "const".
func exportedDecls(f *ast.File) map[string]string {
	decls := map[string]string{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil && d.Name.IsExported() {
				decls[d.Name.Name] = "func"
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					if spec.Name.IsExported() {
						decls[spec.Name.Name] = "type"
					}
				case *ast.ValueSpec:
					for _, n := range spec.Names {
						if n.IsExported() {
							decls[n.Name] = d.Tok.String()
						}
					}
				}
			}
		}
	}
	return decls
}
