package wasmbuild

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/constant"
	"go/format"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// requiredGJSON reads gjson.go of the gjson version the project's go.mod
// requires, from the module cache.
func requiredGJSON(t *testing.T) (src []byte, version string) {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", GJSONModule)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", GJSONModule, err)
	}
	var mod downloadedModule
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download printed %q (%v)", out, err)
	}
	src, err = os.ReadFile(filepath.Join(mod.Dir, GJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	return src, mod.Version
}

// TestPatchGJSONAppliesToTheRequiredVersion checks that the patch applies
// to the gjson go.mod requires, and that the result is valid, formatted Go
// whose init registers no modifier and that differs from the original only
// there.
func TestPatchGJSONAppliesToTheRequiredVersion(t *testing.T) {
	src, version := requiredGJSON(t)
	out, err := PatchGJSON(src, version)
	if err != nil {
		t.Fatalf("the gjson patch does not apply to %s: %v", version, err)
	}
	file, err := parser.ParseFile(token.NewFileSet(), GJSONFile, out, parser.AllErrors)
	if err != nil {
		t.Fatalf("the patched file does not parse: %v", err)
	}
	formatted, err := format.Source(out)
	if err != nil || !bytes.Equal(formatted, out) {
		t.Errorf("the patched file is not gofmt-formatted (%v)", err)
	}
	// No function of the file but the modifiers themselves names one.
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || strings.HasPrefix(fn.Name.Name, "mod") {
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && (id.Name == "modPretty" || id.Name == "modFromStr" || id.Name == "modValid") {
				t.Errorf("%s still refers to %s", fn.Name.Name, id.Name)
			}
			return true
		})
	}
	if !bytes.Contains(out, []byte(`var disableModifiers = "false"`)) {
		t.Errorf("the patched file lacks the variable %s sets", GJSONLDFlags)
	}
	if undone := bytes.Replace(out, []byte(gjsonInitReplacement), []byte(gjsonInitAnchor), 1); !bytes.Equal(undone, src) {
		t.Error("the patch changes more than gjson's init")
	}
}

// TestPatchGJSONRefusesUnexpectedSource checks that the patch fails, naming
// the file and the gjson version, whenever the code it changes is not
// exactly what it expects.
func TestPatchGJSONRefusesUnexpectedSource(t *testing.T) {
	src, version := requiredGJSON(t)
	patched, err := PatchGJSON(src, version)
	if err != nil {
		t.Fatal(err)
	}
	tests := []patchRefusal{
		{"empty file", nil, "does not contain the expected code"},
		{"a new modifier", bytes.Replace(src, []byte("\t\t\"dig\":     modDig,\n"), []byte("\t\t\"dig\":     modDig,\n\t\t\"x\":       modX,\n"), 1),
			"does not contain the expected code"},
		{"switch renamed", bytes.Replace(src, []byte(`var disableModifiers = "false"`), []byte(`var modifiersOff = "false"`), 1),
			"does not contain the expected code"},
		{"init twice", append(append([]byte(nil), src...), []byte("\n"+gjsonInitAnchor)...), "2 times, want once"},
		{"already patched", patched, "does not contain the expected code"},
	}
	checkPatchRefuses(t, PatchGJSON, version, tests, GJSONFile, GJSONModule)
}

// TestModuleEvaluatesNoGJSONModifier is why the build may drop gjson's
// modifiers (GJSONLDFlags and PatchGJSON): it type-checks the packages the
// module is made of and finds every call of a gjson function or method
// that takes a path (gjson.Get, GetBytes, GetMany, Result.Get, ...). Each
// path must be a constant without '@', so that no path names a modifier,
// whatever the configuration or the request. (Today the module calls none:
// it reads configurations with gjson.Parse and Result.ForEach.)
func TestModuleEvaluatesNoGJSONModifier(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "source", nil)
	checked := 0
	for _, pkg := range shippedPackages {
		dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(strings.TrimPrefix(pkg, projectModule), "/")))
		files := parseShippedFiles(t, fset, dir)
		if !importsGJSON(files) {
			continue
		}
		checked++
		for _, problem := range gjsonPathProblems(t, fset, imp, pkg, files) {
			t.Error(problem)
		}
	}
	if checked == 0 {
		t.Fatal("no package of the module imports gjson: update this test and filter/wasmbuild/README.md")
	}

	// The check finds what it must.
	src := `package p

import "github.com/tidwall/gjson"

const path = "a.b"

func f(json, name string) {
	_ = gjson.Get(json, "a.@reverse")
	_ = gjson.Parse(json).Get(name)
	_ = gjson.GetMany(json, path, "c")
	_ = gjson.Get(json, path+".c")
	r := gjson.GetBytes([]byte(json), "@this")
	_ = r.Get("x")
}
`
	file, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := gjsonPathProblems(t, fset, imp, "example.com/p", []*ast.File{file})
	want := []string{
		`p.go:8:22: Get's path "a.@reverse" names a modifier`,
		`p.go:9:28: Get's path is not a constant string`,
		`p.go:12:36: GetBytes's path "@this" names a modifier`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("on a sample, the check found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// gjsonPathProblems type-checks the files of package path and describes
// each path argument of a gjson call that is not a constant string without
// '@'.
func gjsonPathProblems(t *testing.T, fset *token.FileSet, imp types.Importer, path string, files []*ast.File) []string {
	t.Helper()
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: imp}
	if _, err := conf.Check(path, fset, files, info); err != nil {
		t.Fatalf("type-checking %s: %v", path, err)
	}
	var problems []string
	for _, file := range files {
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			fn := calledGJSONFunc(call, info)
			if fn == nil {
				return true
			}
			sig := fn.Type().(*types.Signature)
			for i := 0; i < sig.Params().Len() && i < len(call.Args); i++ {
				if name := sig.Params().At(i).Name(); name != "path" && name != "paths" {
					continue
				}
				args := call.Args[i:]
				if !sig.Variadic() || i != sig.Params().Len()-1 {
					args = args[:1]
				}
				for _, arg := range args {
					where := fset.Position(arg.Pos())
					where.Filename = filepath.Base(where.Filename)
					switch v := info.Types[arg].Value; {
					case v == nil || v.Kind() != constant.String:
						problems = append(problems, fmt.Sprintf("%s: %s's path is not a constant string", where, fn.Name()))
					case strings.Contains(constant.StringVal(v), "@"):
						problems = append(problems, fmt.Sprintf("%s: %s's path %s names a modifier", where, fn.Name(), v))
					}
				}
			}
			return true
		})
	}
	return problems
}

// calledGJSONFunc is the gjson function or method call calls, or nil.
func calledGJSONFunc(call *ast.CallExpr, info *types.Info) *types.Func {
	fn := calledFunc(call, info)
	if fn == nil || fn.Pkg() == nil || fn.Pkg().Path() != GJSONModule {
		return nil
	}
	return fn
}

// calledFunc is the function or method call calls by name, or nil.
func calledFunc(call *ast.CallExpr, info *types.Info) *types.Func {
	var id *ast.Ident
	switch f := ast.Unparen(call.Fun).(type) {
	case *ast.SelectorExpr:
		id = f.Sel
	case *ast.Ident:
		id = f
	default:
		return nil
	}
	fn, _ := info.Uses[id].(*types.Func)
	return fn
}

// parseShippedFiles parses the Go files of dir that go into the wasip1
// build: no tests, none for another platform.
func parseShippedFiles(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{join .GoFiles "\n"}}`, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v", dir, err)
	}
	names := strings.Fields(string(out))
	sort.Strings(names)
	var files []*ast.File
	for _, name := range names {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// importsGJSON reports whether any of files imports gjson.
func importsGJSON(files []*ast.File) bool {
	for _, f := range files {
		for _, imp := range f.Imports {
			if imp.Path.Value == `"`+GJSONModule+`"` {
				return true
			}
		}
	}
	return false
}
