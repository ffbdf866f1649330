// Package godebuglite is the internal/godebug package of the Wasm module:
// the build (filter/wasmbuild) writes this file, with its package clause
// changed to "package godebug", over the Go toolchain's internal/godebug
// through the -overlay it builds with.
//
// internal/godebug gives standard library packages the settings of
// $GODEBUG and of the main package's //go:debug lines, and counts each
// use of a non-default one in runtime/metrics. In the module only package
// time reads a setting (asynctimerchan), and the package costs about
// 200 KB: internal/bisect, the runtime's metrics tables and their names.
//
// Here every setting has its default value, "": the value Go's package
// gives when $GODEBUG is unset and the main package's default GODEBUG is
// empty. The build refuses a main package whose default GODEBUG is not
// empty (filter/wasmbuild, checkDefaultGODEBUG), so only $GODEBUG set
// in Envoy's Wasm VM environment is ignored; the Go runtime reads its own
// settings (gctrace, ...) itself and still applies them.
package godebuglite

// A Setting is one setting of $GODEBUG, such as "asynctimerchan".
type Setting struct {
	name string
}

// New returns the setting called name; a leading '#' marks it
// undocumented, as in Go's package.
func New(name string) *Setting {
	return &Setting{name: name}
}

// Name returns the setting's name without the '#' mark.
func (s *Setting) Name() string {
	if s.Undocumented() {
		return s.name[1:]
	}
	return s.name
}

// Undocumented reports whether the name was given with a leading '#'.
func (s *Setting) Undocumented() bool {
	return s.name != "" && s.name[0] == '#'
}

// String returns "name=value".
func (s *Setting) String() string {
	return s.Name() + "=" + s.Value()
}

// IncNonDefault does nothing: no setting has a non-default value, and the
// module reads no runtime metrics.
func (s *Setting) IncNonDefault() {}

// Value returns the setting's value: always the default, "".
func (s *Setting) Value() string {
	return ""
}
