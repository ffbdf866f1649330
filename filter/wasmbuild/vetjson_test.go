package wasmbuild

import (
	"strings"
	"testing"
)

func TestParseVetJSON(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []string // VetFinding.String() of each finding
		wantErr string
	}{
		{"clean", "{}\n{}\n", nil, ""},
		{"nothing", "", nil, ""},
		{
			name: "findings with package comments",
			out: `# example.com/a
{
	"example.com/a": {
		"unsafeptr": [
			{"posn": "/w/a/x.go:28:35", "end": "/w/a/x.go:32:3", "message": "possible misuse of reflect.SliceHeader"}
		],
		"printf": [
			{"posn": "/w/a/y.go:3:1", "message": "bad format"}
		]
	}
}
{}
`,
			want: []string{
				"/w/a/x.go:28:35: possible misuse of reflect.SliceHeader (unsafeptr)",
				"/w/a/y.go:3:1: bad format (printf)",
			},
		},
		{"analyzer error", `{"example.com/a": {"printf": {"error": "boom"}}}`, nil, "printf failed on example.com/a: boom"},
		{"odd entry", `{"example.com/a": {"printf": 7}}`, nil, "unexpected go vet -json entry"},
		{"not JSON", "vet: something broke\n", nil, "reading go vet -json output"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			findings, err := parseVetJSON([]byte(tc.out))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range findings {
				got = append(got, f.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestVetFindingFile(t *testing.T) {
	for posn, want := range map[string]string{
		"/a/b.go:1:2":   "/a/b.go",
		"/a/b.go:17":    "/a/b.go",
		"C:/a/b.go:3:4": "C:/a/b.go",
		"/a/b.go":       "/a/b.go",
		"/a:b/c.go:x:1": "/a:b/c.go:x",
	} {
		if got := (VetFinding{Posn: posn}).File(); got != want {
			t.Errorf("File(%q) = %q, want %q", posn, got, want)
		}
	}
}
