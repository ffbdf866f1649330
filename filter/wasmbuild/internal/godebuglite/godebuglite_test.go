package godebuglite

import "testing"

func TestSetting(t *testing.T) {
	tests := []struct {
		name         string
		wantName     string
		undocumented bool
	}{
		{"asynctimerchan", "asynctimerchan", false},
		{"#undocumented", "undocumented", true},
		{"#", "", true},
		{"", "", false},
	}
	for _, tt := range tests {
		s := New(tt.name)
		s.IncNonDefault()
		if got := s.Name(); got != tt.wantName {
			t.Errorf("New(%q).Name() = %q, want %q", tt.name, got, tt.wantName)
		}
		if got := s.Undocumented(); got != tt.undocumented {
			t.Errorf("New(%q).Undocumented() = %v, want %v", tt.name, got, tt.undocumented)
		}
		if got := s.Value(); got != "" {
			t.Errorf("New(%q).Value() = %q, want the default \"\"", tt.name, got)
		}
		if got, want := s.String(), tt.wantName+"="; got != want {
			t.Errorf("New(%q).String() = %q, want %q", tt.name, got, want)
		}
	}
}
