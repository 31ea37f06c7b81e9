package alipaynotify

import (
	"fmt"
	"testing"
	"time"
)

// TestParseTimeCalendarMatchesTimeDate checks that ParseTime accepts exactly
// the dates time.Date does not normalise (the check it made before daysIn),
// in ordinary, leap and century years.
func TestParseTimeCalendarMatchesTimeDate(t *testing.T) {
	for _, y := range []int{0, 1, 4, 100, 400, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9999} {
		for m := 1; m <= 12; m++ {
			for d := 1; d <= 31; d++ {
				s := fmt.Sprintf("%04d-%02d-%02d 12:34:56", y, m, d)
				want := time.Date(y, time.Month(m), d, 12, 34, 56, 0, ChinaTime)
				got, err := ParseTime(s)
				if valid := want.Day() == d; valid != (err == nil) || valid && !got.Equal(want) {
					t.Fatalf("ParseTime(%q) = %v, %v; time.Date gives %v", s, got, err, want)
				}
			}
		}
	}
}
