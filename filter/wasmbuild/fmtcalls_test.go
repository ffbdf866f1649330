package wasmbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// listedPackage is what `go list -json` says of a package.
type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Export     string
	Standard   bool
}

// TestModuleFormatsOnlyWhatItsFmtFormats holds every fmt call of the
// module to what the module's fmt (internal/fmtlite, which the build puts
// in place of Go's) formats like Go's: it type-checks, for GOOS=wasip1, the
// module's non-standard packages that import fmt (the project's and the
// SDK's), and checks each call of a printf-like function (a format string
// then ...any: fmt.Errorf, proxywasm.LogWarnf, the project's own wrappers)
// and of fmt's print functions. Every format must be a constant (or a
// wrapper's own format, forwarded), with plain verbs only, and every
// operand of a kind fmtlite formats for its verb. Standard library code
// that calls fmt is not checked here: TestArtifactLeavesOut
// (filter/wasmtest) keeps the standard library's fmt callers out of the
// module.
func TestModuleFormatsOnlyWhatItsFmtFormats(t *testing.T) {
	// The Higress build (make build-higress) adds files of its own.
	for _, tags := range []string{"", "higress"} {
		t.Run("tags="+tags, func(t *testing.T) {
			checkFmtCalls(t, filepath.Join("..", ".."), tags)
		})
	}
}

// checkFmtCalls runs the check of TestModuleFormatsOnlyWhatItsFmtFormats
// on the module built with the given build tags.
func checkFmtCalls(t *testing.T, root, tags string) {
	pkgs := listWasmPackages(t, root, tags, ".")
	exports := map[string]string{}
	for _, p := range pkgs {
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok || file == "" {
			return nil, errors.New("no export data for " + path)
		}
		return os.Open(file)
	})
	checked := 0
	for _, p := range pkgs {
		if p.Standard || !importsFmt(p) {
			continue
		}
		checked++
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}, Defs: map[*ast.Ident]types.Object{}}
		conf := types.Config{Importer: imp.(types.ImporterFrom), Sizes: types.SizesFor("gc", "wasm")}
		if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
			t.Fatalf("type-checking %s: %v", p.ImportPath, err)
		}
		for _, f := range files {
			for _, problem := range fmtCallProblems(f, info) {
				t.Errorf("%s: %s", fset.Position(problem.pos), problem.text)
			}
		}
	}
	if checked < 5 {
		t.Errorf("checked %d packages that import fmt; the module has more (filter, its config, bucket, bucket/redis, the SDK)", checked)
	}
}

// listWasmPackages lists the packages pattern depends on, built for
// GOOS=wasip1 GOARCH=wasm with tags, with their export data.
func listWasmPackages(t *testing.T, root, tags, pattern string) []listedPackage {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "go", "list", "-deps", "-export", "-tags="+tags,
		"-json=ImportPath,Dir,GoFiles,Imports,Export,Standard", pattern)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func importsFmt(p listedPackage) bool {
	for _, imp := range p.Imports {
		if imp == "fmt" {
			return true
		}
	}
	return false
}

type fmtProblem struct {
	pos  token.Pos
	text string
}

// fmtPrintFuncs are fmt's functions that format their operands with %v.
var fmtPrintFuncs = map[string]bool{
	"Sprint": true, "Sprintln": true, "Print": true, "Println": true,
	"Fprint": true, "Fprintln": true, "Append": true, "Appendln": true,
}

// fmtCallProblems returns what fmtlite would format unlike fmt in the
// calls of f.
func fmtCallProblems(f *ast.File, info *types.Info) []fmtProblem {
	var problems []fmtProblem
	report := func(pos token.Pos, format string, args ...any) {
		problems = append(problems, fmtProblem{pos, fmt.Sprintf(format, args...)})
	}
	var enclosing []*ast.FuncType
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			enclosing = append(enclosing[:0], n.Type)
		case *ast.FuncLit:
			enclosing = append(enclosing, n.Type)
		case *ast.CallExpr:
			sig, ok := info.Types[n.Fun].Type.(*types.Signature)
			if !ok {
				return true
			}
			if fn := calledFunc(n, info); fn != nil && fn.Pkg() != nil && fn.Pkg().Path() == "fmt" && fmtPrintFuncs[fn.Name()] {
				for _, arg := range n.Args {
					if t := info.Types[arg].Type; !fmtliteFormats('v', t) {
						report(arg.Pos(), "fmt.%s operand of type %s: not formatted by the module's fmt", fn.Name(), t)
					}
				}
				return true
			}
			formatIndex, ok := printfLike(sig)
			if !ok || len(n.Args) <= formatIndex {
				return true
			}
			formatArg := n.Args[formatIndex]
			value := info.Types[formatArg].Value
			if value == nil || value.Kind() != constant.String {
				if !forwardsFormat(formatArg, n, info, enclosing) {
					report(formatArg.Pos(), "format is not a constant (nor a wrapper's own format, forwarded with args...)")
				}
				return true
			}
			if n.Ellipsis.IsValid() {
				report(n.Pos(), "constant format with operands passed as a slice: their types cannot be checked")
				return true
			}
			verbs, problem := plainVerbs(constant.StringVal(value))
			if problem != "" {
				report(formatArg.Pos(), "format %s: %s", value.ExactString(), problem)
				return true
			}
			operands := n.Args[formatIndex+1:]
			if len(verbs) != len(operands) {
				report(formatArg.Pos(), "format %s has %d verbs for %d operands", value.ExactString(), len(verbs), len(operands))
				return true
			}
			for i, verb := range verbs {
				if t := info.Types[operands[i]].Type; !fmtliteFormats(verb, t) {
					report(operands[i].Pos(), "%%%c of type %s (format %s): not formatted by the module's fmt", verb, t, value.ExactString())
				}
			}
		}
		return true
	})
	return problems
}

// printfLike reports whether sig ends with (format string, args ...any)
// and returns the format's index.
func printfLike(sig *types.Signature) (int, bool) {
	params := sig.Params()
	n := params.Len()
	if !sig.Variadic() || n < 2 {
		return 0, false
	}
	last, ok := params.At(n - 1).Type().(*types.Slice)
	if !ok {
		return 0, false
	}
	iface, ok := last.Elem().Underlying().(*types.Interface)
	if !ok || !iface.Empty() {
		return 0, false
	}
	format := params.At(n - 2)
	if format.Name() != "format" || !types.Identical(format.Type(), types.Typ[types.String]) {
		return 0, false
	}
	return n - 2, true
}

// forwardsFormat reports whether formatArg is the format parameter of the
// innermost enclosing function, passed on with its operands (args...).
func forwardsFormat(formatArg ast.Expr, call *ast.CallExpr, info *types.Info, enclosing []*ast.FuncType) bool {
	id, ok := formatArg.(*ast.Ident)
	if !ok || !call.Ellipsis.IsValid() || len(enclosing) == 0 {
		return false
	}
	for _, field := range enclosing[len(enclosing)-1].Params.List {
		for _, name := range field.Names {
			if name.Name == "format" && info.Uses[id] == info.Defs[name] {
				return true
			}
		}
	}
	return false
}

// plainVerbs returns the verbs of format's directives, or what is not
// plain about one (a flag, a width, a precision, an index).
func plainVerbs(format string) ([]rune, string) {
	var verbs []rune
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i == len(format) {
			return nil, "ends with %"
		}
		verb, size := utf8.DecodeRuneInString(format[i:])
		i += size - 1
		switch {
		case verb == '%':
		case strings.ContainsRune("+-# 0123456789.*[", verb):
			return nil, "a directive with flags, width, precision or index"
		default:
			verbs = append(verbs, verb)
		}
	}
	return verbs, ""
}

// fmtliteFormats reports whether fmtlite formats an operand of type t
// for verb as fmt does (see its package comment).
func fmtliteFormats(verb rune, t types.Type) bool {
	if t == nil {
		return false
	}
	if b, ok := t.(*types.Basic); ok && b.Kind() == types.UntypedNil {
		return true
	}
	if verb == 'T' {
		return true
	}
	errorType := types.Universe.Lookup("error").Type().Underlying().(*types.Interface)
	isError := types.Implements(t, errorType)
	if verb == 'w' {
		return isError
	}
	if (isError || hasStringMethod(t)) && strings.ContainsRune("vsxXq", verb) {
		return true
	}
	if types.Identical(t, types.NewSlice(types.Typ[types.Byte])) {
		return strings.ContainsRune("sqxX", verb)
	}
	if b, ok := t.Underlying().(*types.Basic); ok {
		return b.Info()&(types.IsString|types.IsBoolean|types.IsInteger|types.IsFloat) != 0
	}
	return false
}

// hasStringMethod reports whether a value of type t has String() string.
func hasStringMethod(t types.Type) bool {
	obj, _, _ := types.LookupFieldOrMethod(t, false, nil, "String")
	fn, ok := obj.(*types.Func)
	if !ok {
		return false
	}
	sig := fn.Type().(*types.Signature)
	return sig.Params().Len() == 0 && sig.Results().Len() == 1 && types.Identical(sig.Results().At(0).Type(), types.Typ[types.String])
}

func TestFmtCallProblems(t *testing.T) {
	const src = `package p

import "fmt"

type named int
type pair struct{ a, b int }
type stringer struct{}

func (stringer) String() string { return "" }

func wrap(format string, args ...any) error { return fmt.Errorf(format, args...) }
func notForwarded(format string, args ...any) error { f := format; return fmt.Errorf(f, args...) }

func (n named) String() string { return "" }

func calls(err error, s string, n named, p pair, ptr *int, b []byte, f float64) {
	_ = fmt.Errorf("ok %s %d %v %q %w %t %x %d", s, n, err, s, err, true, b, n)
	_ = wrap("ok %v %g %s", stringer{}, f, s)
	_ = fmt.Errorf("struct %v", p)
	_ = fmt.Errorf("pointer %d", ptr)
	_ = fmt.Errorf("width %5d", 1)
	_ = fmt.Errorf("wrap non-error %w", s)
	_ = fmt.Errorf(s)
	_ = fmt.Sprint(p)
	_ = fmt.Sprintf("stringer as integer %d", stringer{})
	args := []any{1}
	_ = fmt.Errorf("slice %d", args...)
	_ = fmt.Errorf("slice %v", []int64{1})
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}, Defs: map[*ast.Ident]types.Object{}}
	if _, err := (&types.Config{Importer: importer.Default()}).Check("p", fset, []*ast.File{f}, info); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range fmtCallProblems(f, info) {
		got = append(got, fmt.Sprintf("%d: %s", fset.Position(p.pos).Line, p.text))
	}
	want := []string{
		"12: format is not a constant (nor a wrapper's own format, forwarded with args...)",
		"19: %v of type p.pair (format \"struct %v\"): not formatted by the module's fmt",
		"20: %d of type *int (format \"pointer %d\"): not formatted by the module's fmt",
		"21: format \"width %5d\": a directive with flags, width, precision or index",
		"22: %w of type string (format \"wrap non-error %w\"): not formatted by the module's fmt",
		"23: format is not a constant (nor a wrapper's own format, forwarded with args...)",
		"24: fmt.Sprint operand of type p.pair: not formatted by the module's fmt",
		"25: %d of type p.stringer (format \"stringer as integer %d\"): not formatted by the module's fmt",
		"27: constant format with operands passed as a slice: their types cannot be checked",
		"28: %v of type []int64 (format \"slice %v\"): not formatted by the module's fmt",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
