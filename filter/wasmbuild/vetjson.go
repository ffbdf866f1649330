package wasmbuild

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// VetFinding is one diagnostic of `go vet -json`.
type VetFinding struct {
	Package  string
	Analyzer string
	Posn     string // file:line:column
	Message  string
}

// File is the finding's file name: Posn without its ":line:column" (or
// ":line") suffix.
func (f VetFinding) File() string {
	file := f.Posn
	for i := 0; i < 2; i++ {
		j := strings.LastIndexByte(file, ':')
		if j < 0 || !isDigits(file[j+1:]) {
			break
		}
		file = file[:j]
	}
	return file
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String formats the finding like go vet's text output.
func (f VetFinding) String() string {
	return fmt.Sprintf("%s: %s (%s)", f.Posn, f.Message, f.Analyzer)
}

// parseVetJSON reads the output of `go vet -json`: a stream of JSON objects
// {package: {analyzer: [{posn, message}] | {error}}}, possibly separated by
// "# package" comment lines. An analyzer error is returned as an error.
func parseVetJSON(out []byte) ([]VetFinding, error) {
	var cleaned bytes.Buffer
	for _, line := range bytes.SplitAfter(out, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			cleaned.Write(line)
		}
	}
	var findings []VetFinding
	dec := json.NewDecoder(&cleaned)
	for {
		var unit map[string]map[string]json.RawMessage
		err := dec.Decode(&unit)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading go vet -json output: %w", err)
		}
		for pkg, analyzers := range unit {
			for analyzer, raw := range analyzers {
				var diags []struct{ Posn, Message string }
				if err := json.Unmarshal(raw, &diags); err == nil {
					for _, d := range diags {
						findings = append(findings, VetFinding{Package: pkg, Analyzer: analyzer, Posn: d.Posn, Message: d.Message})
					}
					continue
				}
				var failure struct{ Error string }
				if err := json.Unmarshal(raw, &failure); err != nil || failure.Error == "" {
					return nil, fmt.Errorf("unexpected go vet -json entry for %s/%s: %s", pkg, analyzer, raw)
				}
				return nil, fmt.Errorf("go vet analyzer %s failed on %s: %s", analyzer, pkg, failure.Error)
			}
		}
	}
	sort.Slice(findings, func(i, j int) bool { return findings[i].Posn < findings[j].Posn })
	return findings, nil
}
