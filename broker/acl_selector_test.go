package broker

import "testing"

func TestACLFiltersWithSelectors(t *testing.T) {
	for _, tc := range []struct {
		f, t string
		want bool
	}{{"t/a,b/x", "t/a/x", true}, {"t/a,b/x", "t/c/x", false}, {"+/a,b", "$SYS/a", false}, {"t/+/x", "t/z/x", true}} {
		if got := filterMatches(tc.f, tc.t); got != tc.want {
			t.Errorf("filterMatches(%q, %q) = %t", tc.f, tc.t, got)
		}
	}
	for _, tc := range []struct {
		f, sub string
		want   bool
	}{
		{"t/+", "t/a,b", true}, {"t/a,b,c", "t/a,b", true}, {"t/a,b", "t/a,b,c", false},
		{"t/a", "t/a,b", false}, {"t/a,b", "t/+", false}, {"t/a,b", "t/b", true}, {"#", "t/a,b/#", true},
	} {
		if got := covers(tc.f, tc.sub); got != tc.want {
			t.Errorf("covers(%q, %q) = %t", tc.f, tc.sub, got)
		}
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"t/a,b", "t/b,c", true}, {"t/a,b", "t/c,d", false}, {"t/a,b", "t/+", true}, {"t/a,b", "t/a", true}, {"t/a,b", "t/c", false}} {
		if got := overlaps(tc.a, tc.b); got != tc.want {
			t.Errorf("overlaps(%q, %q) = %t", tc.a, tc.b, got)
		}
	}
}
