package wasmbuild

import (
	"bytes"
	"fmt"
)

// GJSONModule is the JSON library the filter reads configurations with.
// The build copies the version go.mod requires into the workspace (the go
// command refuses -overlay for files in the module cache) and replaces its
// GJSONFile through the overlay with the copy PatchGJSON makes.
const GJSONModule = "github.com/tidwall/gjson"

// GJSONFile is the file of GJSONModule the patch replaces, relative to the
// module's root.
const GJSONFile = "gjson.go"

// GJSONLDFlags sets gjson's own switch for disabling path modifiers
// ("@pretty", "@this", ...; gjson.go documents it at DisableModifiers), so
// that gjson treats a path's '@' as any other character, consistently with
// the patched init, which registers no modifier. Every module build passes
// it.
const GJSONLDFlags = "-X " + GJSONModule + ".disableModifiers=true"

// gjsonSwitchAnchor is the variable GJSONLDFlags sets: without it the
// linker would ignore the flag and modifiers would stay enabled.
const gjsonSwitchAnchor = `var disableModifiers = "false"`

// gjsonInitAnchor is the code the patch changes: gjson's init, which
// registers the stock modifiers. The map keeps every modifier function, and
// with it tidwall/pretty and encoding/json's reflection-based decoder
// (@fromstr, @valid, @pretty), in the module although the filter never
// evaluates a path. It must occur exactly once, byte for byte, or the patch
// refuses to apply: another gjson needs a person to look at it.
const gjsonInitAnchor = `func init() {
	stockModifiers = map[string]func(json, arg string) string{
		"pretty":  modPretty,
		"ugly":    modUgly,
		"reverse": modReverse,
		"this":    modThis,
		"flatten": modFlatten,
		"join":    modJoin,
		"valid":   modValid,
		"keys":    modKeys,
		"values":  modValues,
		"tostr":   modToStr,
		"fromstr": modFromStr,
		"group":   modGroup,
		"dig":     modDig,
	}
	userModifiers = map[string]func(json, arg string) string{}
}
`

// gjsonInitReplacement registers no stock modifier. Nothing else refers to
// the modifier functions, so the linker leaves them, tidwall/pretty and
// encoding/json out.
const gjsonInitReplacement = `func init() {
	// mcp-ratelimit-wasm patch: no stock modifiers, so that the linker
	// leaves them out; the module is built with disableModifiers=true
	// (see filter/wasmbuild/README.md).
	stockModifiers = map[string]func(json, arg string) string{}
	userModifiers = map[string]func(json, arg string) string{}
}
`

// PatchGJSON returns src, the text of gjson.go of gjson version (used only
// in error messages), with the patch applied. It fails unless the init it
// changes and the switch GJSONLDFlags sets each occur exactly once, byte
// for byte.
func PatchGJSON(src []byte, version string) ([]byte, error) {
	for _, anchor := range []string{gjsonSwitchAnchor, gjsonInitAnchor} {
		switch n := bytes.Count(src, []byte(anchor)); n {
		case 1:
		case 0:
			return nil, fmt.Errorf("gjson patch does not apply: %s of %s %s does not contain the expected code:\n%s"+
				"update filter/wasmbuild/gjson.go for this gjson version (see filter/wasmbuild/README.md)",
				GJSONFile, GJSONModule, version, indent(anchor))
		default:
			return nil, fmt.Errorf("gjson patch does not apply: %s of %s %s contains the expected code %d times, want once:\n%s",
				GJSONFile, GJSONModule, version, n, indent(anchor))
		}
	}
	return bytes.Replace(src, []byte(gjsonInitAnchor), []byte(gjsonInitReplacement), 1), nil
}
