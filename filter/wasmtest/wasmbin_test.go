package wasmtest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// testModule hand-assembles a small module: two functions of type () -> (),
// a mutable i32 global "g" starting at 0, and the given exports. Function 0
// sets the global to 1; function 1 does nothing.
func testModule(exports ...export) []byte {
	section := func(id byte, payload []byte) []byte {
		return append(appendULEB128([]byte{id}, uint64(len(payload))), payload...)
	}
	m := []byte(wasmMagic + wasmVersion1)
	m = append(m, section(1, []byte{1, 0x60, 0, 0})...)             // types: () -> ()
	m = append(m, section(3, []byte{2, 0, 0})...)                   // functions: 2 of type 0
	m = append(m, section(6, []byte{1, 0x7f, 1, 0x41, 0, 0x0b})...) // global: mut i32 = 0
	if exports != nil {
		payload := appendULEB128(nil, uint64(len(exports)))
		for _, e := range exports {
			payload = appendName(payload, e.name)
			payload = append(payload, e.kind)
			payload = appendULEB128(payload, uint64(e.index))
		}
		m = append(m, section(sectionIDExport, payload)...)
	}
	setGlobal := []byte{0, 0x41, 1, 0x24, 0, 0x0b} // no locals; i32.const 1; global.set 0; end
	nop := []byte{0, 0x0b}
	code := []byte{2, byte(len(setGlobal))}
	code = append(append(code, setGlobal...), byte(len(nop)))
	code = append(code, nop...)
	return append(m, section(10, code)...)
}

// reactor is a valid WASI-reactor-like test module.
var reactor = []export{
	{name: "_initialize", kind: exportKindFunction, index: 0},
	{name: "g", kind: 3, index: 0},
	{name: "other", kind: exportKindFunction, index: 1},
}

// instantiateAndReadG instantiates m with wazero's default module
// configuration (which runs _start if exported) and returns global g.
func instantiateAndReadG(t *testing.T, m []byte) uint64 {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, m)
	if err != nil {
		t.Fatalf("instantiating: %v", err)
	}
	return mod.ExportedGlobal("g").Get()
}

// TestAddStartAlias checks that the alias makes wazero run _initialize on
// instantiation and changes nothing else.
func TestAddStartAlias(t *testing.T) {
	m := testModule(reactor...)
	if g := instantiateAndReadG(t, m); g != 0 {
		t.Fatalf("without the alias g = %d, want 0 (_initialize must not run)", g)
	}
	aliased, err := AddStartAlias(m)
	if err != nil {
		t.Fatal(err)
	}
	if g := instantiateAndReadG(t, aliased); g != 1 {
		t.Errorf("with the alias g = %d, want 1 (_initialize ran as _start)", g)
	}
	names, err := ExportNames(aliased)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"_initialize", "g", "other", "_start"}; !slices.Equal(names, want) {
		t.Errorf("exports = %v, want %v", names, want)
	}
	if !bytes.Equal(m, testModule(reactor...)) {
		t.Error("AddStartAlias modified its input")
	}
	// Every section but the export section is unchanged.
	before, _ := parseSections(m)
	after, err := parseSections(aliased)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(after) {
		t.Fatalf("%d sections became %d", len(before), len(after))
	}
	for i := range before {
		if before[i].id != sectionIDExport && !bytes.Equal(before[i].raw, after[i].raw) {
			t.Errorf("section %d (id %d) changed", i, before[i].id)
		}
	}
}

// TestAddStartAliasOnProbe applies the alias to a real Go c-shared module.
func TestAddStartAliasOnProbe(t *testing.T) {
	aliased, err := AddStartAlias(probeModule(t, false))
	if err != nil {
		t.Fatal(err)
	}
	abi := readABI(t, aliased)
	if abi.functions["_start"] != abi.functions["_initialize"] || abi.functions["_start"] == "" {
		t.Errorf("_start has type %q, _initialize %q", abi.functions["_start"], abi.functions["_initialize"])
	}
}

// TestAddStartAliasRejects checks the errors for modules the alias cannot
// or must not be added to.
func TestAddStartAliasRejects(t *testing.T) {
	valid := testModule(reactor...)
	withExportPayload := func(payload []byte) []byte {
		m := testModule() // no export section
		return append(m, append(appendULEB128([]byte{sectionIDExport}, uint64(len(payload))), payload...)...)
	}
	tests := []struct {
		name      string
		module    []byte
		want      string
		malformed bool
	}{
		{"empty", nil, "no \\0asm magic number", true},
		{"text", []byte("(module)"), "no \\0asm magic number", true},
		{"version 2", append([]byte(wasmMagic+"\x02\x00\x00\x00"), valid[8:]...), "binary format version", true},
		{"section size past the end", append(slices.Clone(valid), 7, 0x20), "claims 32 bytes", true},
		{"section size not LEB128", append(slices.Clone(valid), 7, 0x80), "runs past the end", true},
		{"section size over 32 bits", append(slices.Clone(valid), 7, 0xff, 0xff, 0xff, 0xff, 0x7f), "exceeds 32 bits", true},
		{"no export section", testModule(), "no export section", false},
		{"empty export section", withExportPayload([]byte{0}), "export section is empty", false},
		{"export count too large", withExportPayload([]byte{100, 1, 'a', 0, 0}), "claims 100 entries", true},
		{"name past the section", withExportPayload([]byte{1, 9, 'a', 0, 0}), "name runs past the section", true},
		{"no kind", withExportPayload([]byte{1, 1, 'a'}), "has no kind", true},
		{"unknown kind", withExportPayload([]byte{1, 1, 'a', 9, 0}), "unknown kind 9", true},
		{"index missing", withExportPayload([]byte{1, 1, 'a', 0}), "index", true},
		{"stray bytes", withExportPayload([]byte{1, 1, 'a', 0, 0, 0}), "stray bytes", true},
		{"two export sections", append(slices.Clone(valid), withExportPayload([]byte{1, 1, 'b', 0, 0})[len(testModule()):]...), "two export sections", true},
		{"no _initialize", testModule(export{name: "other", kind: exportKindFunction, index: 1}), "does not export _initialize", false},
		{"_initialize is a global", testModule(export{name: "_initialize", kind: 3, index: 0}), "not as a function", false},
		{"already a command", testModule(append(slices.Clone(reactor), export{name: "_start", kind: exportKindFunction, index: 1})...), "already exports _start", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := AddStartAlias(tc.module)
			if err == nil {
				t.Fatalf("accepted; returned %d bytes", len(out))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if got := errors.Is(err, errMalformed); got != tc.malformed {
				t.Errorf("errors.Is(err, errMalformed) = %t, want %t (%v)", got, tc.malformed, err)
			}
		})
	}
}

// TestULEB128 checks the LEB128 coder at the byte boundaries.
func TestULEB128(t *testing.T) {
	tests := []struct {
		v       uint64
		encoded []byte
	}{
		{0, []byte{0}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{624485, []byte{0xe5, 0x8e, 0x26}},
		{1<<32 - 1, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, tc := range tests {
		if got := appendULEB128(nil, tc.v); !bytes.Equal(got, tc.encoded) {
			t.Errorf("appendULEB128(%d) = % x, want % x", tc.v, got, tc.encoded)
		}
		v, n, err := readULEB128(append(slices.Clone(tc.encoded), 0xaa), 32)
		if err != nil || v != tc.v || n != len(tc.encoded) {
			t.Errorf("readULEB128(% x) = %d, %d, %v; want %d, %d", tc.encoded, v, n, err, tc.v, len(tc.encoded))
		}
	}
	for _, bad := range [][]byte{{}, {0x80}, {0xff, 0xff, 0xff, 0xff, 0x10}, {0x80, 0x80, 0x80, 0x80, 0x80, 0x00}} {
		if v, _, err := readULEB128(bad, 32); err == nil {
			t.Errorf("readULEB128(% x) = %d, want an error", bad, v)
		}
	}
}

// FuzzAddStartAlias checks that no input makes AddStartAlias panic, and
// that whatever it accepts comes out with exactly one _start that a second
// call refuses.
func FuzzAddStartAlias(f *testing.F) {
	f.Add(testModule(reactor...))
	f.Add(testModule())
	f.Add(testModule(export{name: "_initialize", kind: 3, index: 0}))
	f.Add([]byte(wasmMagic + wasmVersion1 + "\x07\x01\x00"))
	f.Fuzz(func(t *testing.T, module []byte) {
		out, err := AddStartAlias(module)
		if err != nil {
			return
		}
		names, err := ExportNames(out)
		if err != nil {
			t.Fatalf("the output does not parse: %v", err)
		}
		n := 0
		for _, name := range names {
			if name == "_start" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d _start exports in %v", n, names)
		}
		if _, err := AddStartAlias(out); err == nil || !strings.Contains(err.Error(), "already exports _start") {
			t.Fatalf("a second AddStartAlias gave %v", err)
		}
	})
}
