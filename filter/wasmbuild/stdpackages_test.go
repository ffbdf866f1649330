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

// TestStdPackagesKeepAPI checks that each of the module's own standard
// library packages is a file of the standard package it replaces and
// declares every exported name and method of the installed Go's package,
// with the same kind of declaration, so that every package of the build
// compiles against it.
func TestStdPackagesKeepAPI(t *testing.T) {
	goroot, _ := installedGo(t)
	for _, p := range StdPackages {
		t.Run(p.Dir, func(t *testing.T) {
			src, err := p.Patch()
			if err != nil {
				t.Fatal(err)
			}
			lite, err := parser.ParseFile(token.NewFileSet(), p.Name()+"_module.go", src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if lite.Name.Name != p.Name() {
				t.Fatalf("the module's %s is package %s, want %s", p.Dir, lite.Name.Name, p.Name())
			}
			want, got := stdAPI(t, goroot, p.Dir), exportedDecls(lite)
			var missing []string
			for name, kind := range want {
				if got[name] != kind {
					missing = append(missing, name+" ("+kind+")")
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("the module's %s lacks %s of Go's", p.Dir, strings.Join(missing, ", "))
			}
		})
	}
	// The check sees what it compares: fmt's functions and
	// internal/godebug's methods.
	if fmtAPI, godebugAPI := stdAPI(t, goroot, "fmt"), stdAPI(t, goroot, "internal/godebug"); fmtAPI["Errorf"] != "func" || godebugAPI["Setting.Value"] != "method" {
		t.Errorf("found fmt.Errorf as %q and internal/godebug's Setting.Value as %q, want func and method", fmtAPI["Errorf"], godebugAPI["Setting.Value"])
	}
}

// stdAPI returns exportedDecls of every non-test file of the standard
// library package dir in goroot.
func stdAPI(t *testing.T, goroot, dir string) map[string]string {
	t.Helper()
	dir = filepath.Join(goroot, "src", filepath.FromSlash(dir))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	api := map[string]string{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for name, kind := range exportedDecls(f) {
			api[name] = kind
		}
	}
	if len(api) == 0 {
		t.Fatalf("found no exported name in %s", dir)
	}
	return api
}

// exportedDecls maps the exported top-level names of f to "func", "type",
// "var" or "const", and the exported methods of its exported types, as
// "Type.Method", to "method".
func exportedDecls(f *ast.File) map[string]string {
	decls := map[string]string{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			switch {
			case !d.Name.IsExported():
			case d.Recv == nil:
				decls[d.Name.Name] = "func"
			default:
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if id, ok := recv.(*ast.Ident); ok && id.IsExported() {
					decls[id.Name+"."+d.Name.Name] = "method"
				}
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
