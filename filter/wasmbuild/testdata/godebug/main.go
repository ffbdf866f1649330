// Command godebug is a main package with a //go:debug line, which the
// module build refuses (TestBuildRefusesDefaultGODEBUG).
//
//go:debug asynctimerchan=1
package main

func main() {}
