package bucket

import (
	"slices"
	"testing"
)

func TestKindSet(t *testing.T) {
	all := make([]Kind, 0, lastKind+1)
	for k := range lastKind + 1 {
		all = append(all, k)
	}
	tests := []struct {
		name string
		add  []Kind
		want []Kind
	}{
		{"empty", nil, nil},
		{"one", []Kind{KindUserTool}, []Kind{KindUserTool}},
		{"a kind twice, out of order", []Kind{KindUser, KindShared, KindUser}, []Kind{KindShared, KindUser}},
		{"every kind", all, all},
	}
	for _, tt := range tests {
		s := KindsOf(tt.add...)
		if got := s.Kinds(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: KindsOf(%v).Kinds() = %v, want %v", tt.name, tt.add, got, tt.want)
		}
		for _, k := range all {
			if got, want := s.Has(k), slices.Contains(tt.want, k); got != want {
				t.Errorf("%s: Has(%v) = %v, want %v", tt.name, k, got, want)
			}
		}
		if (s == 0) != (len(tt.want) == 0) {
			t.Errorf("%s: set %b, want it empty only without kinds", tt.name, s)
		}
	}
	if KindsOf(all...).Has(lastKind + 1) {
		t.Error("Has accepts a kind beyond the last")
	}
}

func TestAnyCountsCalls(t *testing.T) {
	tokens := Demand{Bucket: Bucket{Kind: KindShared}, Tokens: 1}
	quota := Demand{Bucket: Bucket{Kind: KindShared}, Tokens: 1, Quota: &Quota{}}
	capped := Demand{Bucket: Bucket{Kind: KindShared}, Tokens: 1, MaxInFlight: 2}
	tests := []struct {
		name    string
		demands []Demand
		want    bool
	}{
		{"none", nil, false},
		{"token buckets only", []Demand{tokens, tokens}, false},
		{"a quota last", []Demand{tokens, quota}, true},
		{"a cap first", []Demand{capped, tokens}, true},
	}
	for _, tt := range tests {
		if got := AnyCountsCalls(tt.demands); got != tt.want {
			t.Errorf("%s: AnyCountsCalls = %v, want %v", tt.name, got, tt.want)
		}
	}
}
