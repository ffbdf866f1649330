package wasmtest

import (
	"bytes"
	"errors"
	"fmt"
)

// Wasm binary format constants (WebAssembly Core Specification 2.0,
// section 5 "Binary Format").
const (
	wasmMagic          = "\x00asm"
	wasmVersion1       = "\x01\x00\x00\x00"
	sectionIDExport    = 7
	exportKindFunction = 0x00
	maxExportKind      = 0x04 // tag, from the exception-handling proposal
)

// errMalformed is wrapped by every error about a module that does not parse.
var errMalformed = errors.New("malformed wasm module")

// AddStartAlias returns a copy of module, a WASI reactor, whose export
// section has one more entry: "_start", naming the same function as
// "_initialize".
//
// Why: a reactor (what `go build -buildmode=c-shared` produces for wasip1)
// must have _initialize called once before any other export; Go's reactor
// aborts otherwise. Hosts like Envoy call it, but the SDK's
// proxytest.NewWasmVMContext instantiates the module with wazero's default
// configuration, which runs "_start" (and only "_start") on instantiation.
// With the alias, wazero runs the reactor's initialisation exactly as a
// proxy-wasm host would, and the SDK's wrapper can be used unchanged.
//
// It fails with a clear error when module is not a wasm binary, does not
// export a function named _initialize, or already exports _start.
func AddStartAlias(module []byte) ([]byte, error) {
	sections, err := parseSections(module)
	if err != nil {
		return nil, err
	}
	var exportSection *section
	for i := range sections {
		if sections[i].id == sectionIDExport {
			if exportSection != nil {
				return nil, fmt.Errorf("%w: two export sections", errMalformed)
			}
			exportSection = &sections[i]
		}
	}
	if exportSection == nil {
		return nil, errors.New("wasm module has no export section, so no _initialize to alias")
	}
	exports, err := parseExports(exportSection.payload)
	if err != nil {
		return nil, err
	}
	initIndex := -1
	for _, e := range exports {
		switch e.name {
		case "_start":
			return nil, errors.New("wasm module already exports _start: it is a WASI command, not a reactor")
		case "_initialize":
			if e.kind != exportKindFunction {
				return nil, fmt.Errorf("wasm module exports _initialize as kind %d, not as a function", e.kind)
			}
			initIndex = int(e.index)
		}
	}
	if initIndex < 0 {
		return nil, errors.New("wasm module does not export _initialize: not a WASI reactor (build with -buildmode=c-shared)")
	}

	var payload []byte
	payload = appendULEB128(payload, uint64(len(exports)+1))
	payload = append(payload, exportSection.payload[exports[0].start:]...) // the existing entries
	payload = appendName(payload, "_start")
	payload = append(payload, exportKindFunction)
	payload = appendULEB128(payload, uint64(initIndex))

	out := make([]byte, 0, len(module)+16)
	out = append(out, module[:8]...)
	for _, s := range sections {
		if s.id != sectionIDExport {
			out = append(out, s.raw...)
			continue
		}
		out = append(out, sectionIDExport)
		out = appendULEB128(out, uint64(len(payload)))
		out = append(out, payload...)
	}
	return out, nil
}

// ExportNames lists the names the module exports, in order.
func ExportNames(module []byte) ([]string, error) {
	sections, err := parseSections(module)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range sections {
		if s.id != sectionIDExport {
			continue
		}
		exports, err := parseExports(s.payload)
		if err != nil {
			return nil, err
		}
		for _, e := range exports {
			names = append(names, e.name)
		}
	}
	return names, nil
}

// section is one section of a wasm binary.
type section struct {
	id      byte
	payload []byte // the section's content
	raw     []byte // id, size and content, as in the binary
}

// parseSections splits a wasm binary into its sections.
func parseSections(module []byte) ([]section, error) {
	if len(module) < 8 || !bytes.Equal(module[:4], []byte(wasmMagic)) {
		return nil, fmt.Errorf("%w: no \\0asm magic number", errMalformed)
	}
	if !bytes.Equal(module[4:8], []byte(wasmVersion1)) {
		return nil, fmt.Errorf("%w: binary format version % x, want 01 00 00 00", errMalformed, module[4:8])
	}
	var sections []section
	for pos := 8; pos < len(module); {
		start := pos
		id := module[pos]
		pos++
		size, n, err := readULEB128(module[pos:], 32)
		if err != nil {
			return nil, fmt.Errorf("%w: size of section %d at offset %d: %v", errMalformed, id, start, err)
		}
		pos += n
		if size > uint64(len(module)-pos) {
			return nil, fmt.Errorf("%w: section %d at offset %d claims %d bytes, %d remain", errMalformed, id, start, size, len(module)-pos)
		}
		end := pos + int(size)
		sections = append(sections, section{id: id, payload: module[pos:end], raw: module[start:end]})
		pos = end
	}
	return sections, nil
}

// export is one entry of the export section.
type export struct {
	name  string
	kind  byte
	index uint32
	start int // offset of the entry in the section payload
}

// parseExports reads an export section payload.
func parseExports(payload []byte) ([]export, error) {
	count, pos, err := readULEB128(payload, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: export count: %v", errMalformed, err)
	}
	if count > uint64(len(payload)) { // every entry takes at least 3 bytes
		return nil, fmt.Errorf("%w: export section claims %d entries in %d bytes", errMalformed, count, len(payload))
	}
	exports := make([]export, 0, count)
	for i := uint64(0); i < count; i++ {
		e := export{start: pos}
		nameLen, n, err := readULEB128(payload[pos:], 32)
		if err != nil {
			return nil, fmt.Errorf("%w: export %d name length: %v", errMalformed, i, err)
		}
		pos += n
		if nameLen > uint64(len(payload)-pos) {
			return nil, fmt.Errorf("%w: export %d name runs past the section", errMalformed, i)
		}
		e.name = string(payload[pos : pos+int(nameLen)])
		pos += int(nameLen)
		if pos >= len(payload) {
			return nil, fmt.Errorf("%w: export %d (%q) has no kind", errMalformed, i, e.name)
		}
		e.kind = payload[pos]
		if e.kind > maxExportKind {
			return nil, fmt.Errorf("%w: export %d (%q) has unknown kind %d", errMalformed, i, e.name, e.kind)
		}
		pos++
		index, n, err := readULEB128(payload[pos:], 32)
		if err != nil {
			return nil, fmt.Errorf("%w: export %d (%q) index: %v", errMalformed, i, e.name, err)
		}
		pos += n
		e.index = uint32(index)
		exports = append(exports, e)
	}
	if pos != len(payload) {
		return nil, fmt.Errorf("%w: %d stray bytes after the last export", errMalformed, len(payload)-pos)
	}
	if len(exports) == 0 {
		return nil, errors.New("wasm module's export section is empty, so no _initialize to alias")
	}
	return exports, nil
}

// readULEB128 decodes an unsigned LEB128 number of at most bits bits from
// the start of b and returns it with the number of bytes read.
func readULEB128(b []byte, bits uint) (uint64, int, error) {
	var v uint64
	var shift uint
	for i, c := range b {
		if shift >= bits {
			return 0, 0, errors.New("LEB128 number too long")
		}
		payload := uint64(c & 0x7f)
		if shift+7 > bits && payload>>(bits-shift) != 0 {
			return 0, 0, fmt.Errorf("LEB128 number exceeds %d bits", bits)
		}
		v |= payload << shift
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, errors.New("LEB128 number runs past the end")
}

// appendULEB128 appends v in unsigned LEB128.
func appendULEB128(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// appendName appends a wasm name (length-prefixed UTF-8).
func appendName(b []byte, name string) []byte {
	b = appendULEB128(b, uint64(len(name)))
	return append(b, name...)
}
