package wasmbuild

import "strconv"

// ProfilePath is the profile the go command applies to the filter's build
// (-pgo=auto reads default.pgo in the main package's folder): a CPU profile
// of the filter's native request benchmarks, written by `make pgo`.
const ProfilePath = "default.pgo"

// projectPackages are the packages profile-guided inlining applies to.
const projectPackages = "github.com/mcp-ratelimit/mcp-ratelimit-wasm/..."

// PGOInlineBudget is the largest function (in the compiler's inlining
// cost) that a hot call site of the project's packages inlines. The go
// command's default, 2000, grew the module by 178 KB, past its 4 MB
// budget; 400 grows it by about 14 KB (filter/wasmbuild/README.md,
// "Profile-guided inlining").
const PGOInlineBudget = 400

// pgoFlags are the go build flags of the profile: it applies (-pgo, "auto"
// by default) to the project's packages only, with the inlining budget
// above; the standard library's and the SDK's code is compiled as without
// a profile (no profile-guided inlining or devirtualisation). So a main
// package without a profile, the no-op plugin of the benchmarks, builds
// the same code whatever profile it is given.
func pgoFlags(pgo string) []string {
	if pgo == "" {
		pgo = "auto"
	}
	return []string{
		"-pgo=" + pgo,
		"-gcflags=all=-d=pgoinline=0,pgodevirtualize=0",
		"-gcflags=" + projectPackages + "=-d=pgoinlinebudget=" + strconv.Itoa(PGOInlineBudget),
	}
}
