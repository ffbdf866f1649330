package wasmtest

import (
	"fmt"
	"os"
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
}

// TestArtifactLeavesOut checks that build/mcp-ratelimit.wasm keeps its
// "name" section (a trap in Envoy's log names Go functions) and links none
// of leftOut, so that a change which brings one back shows here rather than
// only in the module's size.
func TestArtifactLeavesOut(t *testing.T) {
	wasm, err := os.ReadFile(ModulePath(t))
	if err != nil {
		t.Fatal(err)
	}
	names, err := functionNames(wasm)
	if err != nil {
		t.Fatal(err)
	}
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
