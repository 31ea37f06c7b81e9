package alipaynotify

import (
	"errors"
	"time"
)

// ChinaTime is the fixed UTC+8 zone Alipay's timestamps are written in. It is
// a fixed zone on purpose: parsing never depends on the machine's time zone
// database.
var ChinaTime = time.FixedZone("CST", 8*60*60)

var errTimeSyntax = errors.New("not a time of the form yyyy-MM-dd HH:mm:ss")

// ParseTime parses Alipay's "yyyy-MM-dd HH:mm:ss" in China time, optionally
// followed by a fraction of a second (gmt_refund is sometimes sent as
// "2014-11-27 14:15:57.123").
func ParseTime(s string) (time.Time, error) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, errTimeSyntax
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 7)
	d, ok3 := num(8, 10)
	h, ok4 := num(11, 13)
	mi, ok5 := num(14, 16)
	se, ok6 := num(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59 {
		return time.Time{}, errTimeSyntax
	}
	nsec := 0
	if len(s) > 19 {
		if s[19] != '.' || len(s) == 20 || len(s) > 29 {
			return time.Time{}, errTimeSyntax
		}
		f, ok := num(20, len(s))
		if !ok {
			return time.Time{}, errTimeSyntax
		}
		for i := len(s) - 20; i < 9; i++ {
			f *= 10
		}
		nsec = f
	}
	if d > daysIn(time.Month(mo), y) { // 2024-02-30 and the like
		return time.Time{}, errTimeSyntax
	}
	return time.Date(y, time.Month(mo), d, h, mi, se, nsec, ChinaTime), nil
}

// daysIn is the number of days of month m in year y (Gregorian, as
// time.Date counts).
func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
