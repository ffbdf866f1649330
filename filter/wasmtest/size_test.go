package wasmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// leftOut are code the shipped module must not link, by the prefix of the
// function names the linker writes in the wasm "name" section, and why it
// is not needed (docs/benchmarks.md, "Module size").
var leftOut = []struct{ prefix, why string }{
	{"github.com_tidwall_gjson.mod", "gjson's path modifiers: the build registers none (filter/wasmbuild/gjson.go)"},
	{"github.com_tidwall_pretty.Pretty", "tidwall/pretty, which only gjson's @pretty and @ugly call"},
	{"github.com_tidwall_pretty.Ugly", "tidwall/pretty, which only gjson's @pretty and @ugly call"},
	{"encoding_json.Unmarshal", "encoding/json's decoder: the configuration and webdis replies are read without it"},
	{"encoding_json.__decodeState_.", "encoding/json's decoder: the configuration and webdis replies are read without it"},
	{"encoding_json.Marshal", "encoding/json's encoder"},
	{"net_netip.", "net/netip: source addresses are read by filter/ipaddr.go"},
	{"unique.", "unique, which only net/netip uses"},
	{"crypto_sha1.", "crypto/sha1: the script's SHA-1 is a constant (bucket/redis/script.go)"},
	{"compress_gzip.", "compress/gzip: the time zone database is inflated with compress/flate (filter/tzdb)"},
	{"hash_crc32.", "hash/crc32, which only compress/gzip uses"},
	{"fmt.__pp_.", "Go's fmt: the build puts the module's own in its place (filter/wasmbuild/internal/fmtlite)"},
	{"internal_fmtsort.", "internal/fmtsort, which only Go's fmt uses"},
	{"internal_bisect.", "internal/bisect, which only Go's internal/godebug uses: the build puts the module's own in its place (filter/wasmbuild/internal/godebuglite)"},
	{"runtime.initMetrics", "the runtime's metrics tables, which only runtime/metrics and Go's internal/godebug read"},
	{"encoding_base64.__Encoding_.", "encoding/base64's codec: MCP header values and the Basic authorization for webdis are read and written by filter/internal/stdbase64 (its package init stays, for encoding/json, which gjson imports)"},
	{"crypto_", "Go's crypto packages and their FIPS 140 module: SHA-256 and HMAC-SHA-256 come from bucket/internal/sha256, random bytes from WASI random_get (bucket/internal/random)"},
	{"github.com_tetratelabs_proxy_wasm_go_sdk_proxywasm.MetricCounter.Increment", "the SDK's counter increment, which panics (trapping the VM) when the host refuses it: the filter increments through metricCounter"},
	{"github.com_tetratelabs_proxy_wasm_go_sdk_proxywasm.MetricHistogram.Record", "the SDK's histogram record, which panics (trapping the VM) when the host refuses it: the filter records through metricHistogram"},
	{"github.com_mcp_ratelimit_mcp_ratelimit_wasm_filter_config.document", "the configuration fields' documentation, which only the documentation's tests read (filter/config/fielddocs.go is built outside the module)"},
}

// TestArtifactLeavesOut checks that build/mcp-ratelimit.wasm keeps its
// "name" section (a trap in Envoy's log names Go functions) and links none
// of leftOut, so that a change which brings one back shows here rather than
// only in the module's size.
func TestArtifactLeavesOut(t *testing.T) {
	wasm, names := artifactFunctionNames(t)
	if !contains(names, "github.com_mcp_ratelimit_mcp_ratelimit_wasm_filter_config.syntaxError") {
		t.Fatalf("the name section of %s (%d function names) does not name the filter's functions", ModuleFile, len(names))
	}
	for _, name := range names {
		for _, l := range leftOut {
			if strings.HasPrefix(name, l.prefix) {
				t.Errorf("%s links %s: %s", ModuleFile, name, l.why)
			}
		}
	}
	t.Logf("%s: %d bytes, %d functions named", ModuleFile, len(wasm), len(names))
	// The size target (docs/benchmarks.md, "Module size"): a module
	// that outgrows it shows here, with the Go version that built it.
	if len(wasm) > maxModuleBytes {
		t.Errorf("%s is %d bytes, over the target of %d (built by the Go of `go version`; see docs/benchmarks.md, \"Module size\")",
			ModuleFile, len(wasm), maxModuleBytes)
	}
}

// maxModuleBytes is the module's size target, 4.0 MB.
const maxModuleBytes = 4_000_000

// TestStandardFmtCallersLeftOut checks that the module links no function
// of the standard library that calls fmt: the build replaces fmt with the
// module's own (filter/wasmbuild/internal/fmtlite), which formats what the
// module's and the SDK's calls pass (filter/wasmbuild checks those), not
// whatever the standard library might.
func TestStandardFmtCallersLeftOut(t *testing.T) {
	_, linked := artifactFunctionNames(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), "go", "list", "-deps", "-json=ImportPath,Dir,GoFiles,Imports,Standard", ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	callers := 0
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p struct {
			ImportPath, Dir string
			GoFiles         []string
			Imports         []string
			Standard        bool
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if !p.Standard || p.ImportPath == "fmt" || !contains(p.Imports, "fmt") {
			continue
		}
		for _, file := range p.GoFiles {
			for _, fn := range fmtCallers(t, filepath.Join(p.Dir, file)) {
				callers++
				for _, name := range wasmNames(p.ImportPath, fn) {
					for _, n := range linked {
						if n == name || strings.HasPrefix(n, name+".func") {
							t.Errorf("%s links %s, which calls fmt (%s)", ModuleFile, n, file)
						}
					}
				}
			}
		}
	}
	if callers == 0 {
		t.Error("found no standard library function that calls fmt among the module's dependencies; the test looks in the wrong place")
	}
}

// fmtCaller is a function of a file that calls fmt: its receiver's type
// name (without '*', "" for a function), whether the receiver is a
// pointer, and its name.
type fmtCaller struct {
	recv    string
	pointer bool
	name    string
}

// fmtCallers returns the functions of file that call a function of fmt.
func fmtCallers(t *testing.T, file string) []fmtCaller {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	fmtName := ""
	for _, imp := range f.Imports {
		if imp.Path.Value == `"fmt"` {
			fmtName = "fmt"
			if imp.Name != nil {
				fmtName = imp.Name.Name
			}
		}
	}
	var callers []fmtCaller
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		calls := false
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == fmtName {
					calls = true
				}
			}
			return !calls
		})
		if !calls {
			continue
		}
		c := fmtCaller{name: fd.Name.Name}
		if fd.Recv != nil && len(fd.Recv.List) == 1 {
			typ := fd.Recv.List[0].Type
			if star, ok := typ.(*ast.StarExpr); ok {
				c.pointer, typ = true, star.X
			}
			if idx, ok := typ.(*ast.IndexExpr); ok {
				typ = idx.X
			}
			if id, ok := typ.(*ast.Ident); ok {
				c.recv = id.Name
			}
		}
		callers = append(callers, c)
	}
	return callers
}

// wasmNames are the names the Go linker gives fn of package pkg in the
// "name" section: "pkg.F", "pkg.T.M" and "pkg.__T_.M" (a value method's
// pointer wrapper too), with '/' and '-' as '_'.
func wasmNames(pkg string, fn fmtCaller) []string {
	prefix := strings.NewReplacer("/", "_", "-", "_").Replace(pkg) + "."
	switch {
	case fn.recv == "":
		return []string{prefix + fn.name}
	case fn.pointer:
		return []string{prefix + "__" + fn.recv + "_." + fn.name}
	}
	return []string{prefix + fn.recv + "." + fn.name, prefix + "__" + fn.recv + "_." + fn.name}
}

// artifactFunctionNames reads build/mcp-ratelimit.wasm and the function
// names of its "name" section.
func artifactFunctionNames(t *testing.T) (wasm []byte, names []string) {
	t.Helper()
	wasm, err := os.ReadFile(ModulePath(t))
	if err != nil {
		t.Fatal(err)
	}
	if names, err = functionNames(wasm); err != nil {
		t.Fatal(err)
	}
	return wasm, names
}

func contains(names []string, want string) bool {
	for _, n := range names {
		if n == want {
			return true
		}
	}
	return false
}

// functionNames reads the function names of a module's "name" custom
// section (WebAssembly Core Specification 2.0, appendix 7.4.1: subsection
// 1, a vector of index and name).
func functionNames(module []byte) ([]string, error) {
	sections, err := parseSections(module)
	if err != nil {
		return nil, err
	}
	for _, s := range sections {
		if s.id != 0 {
			continue
		}
		p := s.payload
		sectionName, err := readName(&p)
		if err != nil {
			return nil, err
		}
		if sectionName != "name" {
			continue
		}
		for len(p) > 0 {
			id := p[0]
			size, n, err := readULEB128(p[1:], 32)
			if err != nil || uint64(len(p)-1-n) < size {
				return nil, fmt.Errorf("%w: name subsection %d", errMalformed, id)
			}
			sub := p[1+n : 1+n+int(size)]
			p = p[1+n+int(size):]
			if id != 1 {
				continue
			}
			count, n, err := readULEB128(sub, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: function name count", errMalformed)
			}
			sub = sub[n:]
			names := make([]string, 0, count)
			for range count {
				if _, n, err = readULEB128(sub, 32); err != nil {
					return nil, fmt.Errorf("%w: function index", errMalformed)
				}
				sub = sub[n:]
				name, err := readName(&sub)
				if err != nil {
					return nil, err
				}
				names = append(names, name)
			}
			return names, nil
		}
	}
	return nil, fmt.Errorf("%w: no function names in a \"name\" section", errMalformed)
}

// readName reads a length-prefixed name from *p and advances it.
func readName(p *[]byte) (string, error) {
	size, n, err := readULEB128(*p, 32)
	if err != nil || uint64(len(*p)-n) < size {
		return "", fmt.Errorf("%w: name", errMalformed)
	}
	name := string((*p)[n : n+int(size)])
	*p = (*p)[n+int(size):]
	return name, nil
}
