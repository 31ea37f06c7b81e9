package alipaynotify

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// The byte-class tables and the IndexByte scan in canonical.go replaced
// per-byte predicates. The reference implementations below are the
// predicates as they were; the tests check that the new code refuses
// exactly what they refuse, byte for byte.

func refIsKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_'
}

func refIsAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func refAllBytes(s string, ok func(byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func refCheckKey(k []byte) bool {
	if len(k) > maxKeyLen {
		return false
	}
	for _, c := range k {
		if !refIsKeyByte(c) {
			return false
		}
	}
	return true
}

func refGrammarOK(g grammar, legacy bool, v string) bool {
	ok := true
	switch g {
	case gDigits:
		ok = len(v) <= maxIDLen && refAllBytes(v, func(c byte) bool { return '0' <= c && c <= '9' })
	case gAlnum:
		ok = len(v) <= 128 && refAllBytes(v, refIsAlnum)
	case gNotifyID:
		if legacy {
			ok = len(v) <= 256 && refAllBytes(v, func(c byte) bool { return refIsAlnum(c) || c == '+' || c == '/' || c == '=' || c == '%' })
		} else {
			ok = len(v) <= 128 && refAllBytes(v, refIsAlnum)
		}
	case gToken:
		ok = len(v) <= 128 && refAllBytes(v, func(c byte) bool { return refIsAlnum(c) || c == '_' || c == '-' || c == '.' || c == ',' })
	case gMerchantNo:
		ok = len(v) <= maxIDLen && refAllBytes(v, func(c byte) bool { return 0x20 < c && c < 0x7f && c != '&' && c != '=' && c != '|' })
	case gStatus:
		ok = TradeStatus(v).Known()
	case gYN:
		ok = v == "Y" || v == "N"
	case gTF:
		ok = v == "T" || v == "F"
	case gVersion:
		ok = v == "1.0" || (legacy && v == "2.0")
	}
	return ok
}

func refBoundaryIn(v, key []byte) (string, bool) {
	for i := 0; i < len(v); i++ {
		if v[i] != '&' {
			continue
		}
		j := i + 1
		for j < len(v) && refIsKeyByte(v[j]) {
			j++
		}
		if j == i+1 || j == len(v) || v[j] != '=' {
			continue
		}
		if string(v[i+1:j]) > string(key) {
			return string(v[i+1 : j]), true
		}
	}
	return "", false
}

var allGrammars = []grammar{gText, gDigits, gAlnum, gNotifyID, gToken, gMerchantNo, gStatus, gYN, gTF, gVersion, gAmount, gTime}

// grammarCases returns, for every byte value, the byte alone and inside
// valid-looking text at the start, middle and end, plus every length around
// each bound.
func grammarCases() []string {
	var cases []string
	for c := range 256 {
		b := string([]byte{byte(c)})
		cases = append(cases, b, b+"12", "12"+b, "1"+b+"2", "aB"+b+"9z")
	}
	for _, n := range []int{0, 1, 63, 64, 65, 127, 128, 129, 255, 256, 257} {
		for _, fill := range []string{"7", "a", "Z", "_", "+", "-", "%", "/"} {
			cases = append(cases, strings.Repeat(fill, n))
		}
	}
	return append(cases, "TRADE_SUCCESS", "TRADE_CLOSED", "Y", "N", "T", "F", "1.0", "2.0", "100.00", "2024-01-02 10:00:06")
}

func TestByteClassesMatchPredicates(t *testing.T) {
	for c := range 256 {
		b := byte(c)
		if isKeyByte(b) != refIsKeyByte(b) {
			t.Errorf("isKeyByte(%#x) = %v", b, isKeyByte(b))
		}
	}
	for _, v := range grammarCases() {
		if got, want := checkKey([]byte(v)) == nil, refCheckKey([]byte(v)); got != want {
			t.Errorf("checkKey(%q) ok = %v, want %v", v, got, want)
		}
		for _, g := range allGrammars {
			for _, legacy := range []bool{false, true} {
				err := checkGrammar(g, legacy, "k", v)
				if got, want := err == nil, refGrammarOK(g, legacy, v); got != want {
					t.Errorf("checkGrammar(%d, legacy=%v, %q) ok = %v, want %v", g, legacy, v, got, want)
				}
			}
		}
	}
}

// TestCheckKeyWords checks the word-at-a-time key test against the byte
// predicate: every byte value at every position of names of 1 to 20 bytes
// over several backgrounds, and random names.
func TestCheckKeyWords(t *testing.T) {
	check := func(k []byte) {
		t.Helper()
		if got, want := checkKey(k) == nil, refCheckKey(k); got != want {
			t.Fatalf("checkKey(%q) ok = %v, want %v", k, got, want)
		}
	}
	everyByteEverywhere([]byte("az09_"), check)
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("az09_`{/:^AZ\x00\x7f\x80\xe1\xdf")
	for range 200000 {
		k := make([]byte, 1+r.IntN(24))
		for i := range k {
			if r.IntN(8) == 0 {
				k[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				k[i] = "abcxyz0189_"[r.IntN(11)]
			}
		}
		check(k)
	}
}

func TestBoundaryInMatchesReference(t *testing.T) {
	pieces := []string{"&", "=", "&&", "==", "a", "_", "9", "A", " ", "%26", "\x80", "\xff"}
	var keys []string
	for k := range fields {
		keys = append(keys, k)
		pieces = append(pieces, k, "&"+k, "&"+k+"=", k+"=")
	}
	pieces = append(pieces, "&unknown_key=", "&Trade_no=", "&trade_no ", "&trade_no")
	r := rand.New(rand.NewPCG(13, 13))
	for range 200000 {
		var sb strings.Builder
		for range r.IntN(6) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		v := []byte(sb.String())
		key := []byte(keys[r.IntN(len(keys))])
		gk, gok := boundaryIn(v, key)
		wk, wok := refBoundaryIn(v, key)
		if gk != wk || gok != wok {
			t.Fatalf("boundaryIn(%q, %q) = %q, %v; want %q, %v", v, key, gk, gok, wk, wok)
		}
	}
}

func TestFormGetMatchesLinearSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "app_id", "app_idx", "sign", "sign_type", "signa", "_input_charset", "z", "charset", "alipay_cert_sn", "notify_data", "sec_id"}
	for range 5000 {
		var parts []string
		for _, k := range names {
			if r.IntN(2) == 0 {
				parts = append(parts, k+"="+k+"v")
			}
		}
		var f form
		if err := f.parse([]byte(strings.Join(parts, "&")), DefaultMaxParams); err != nil {
			t.Fatal(err)
		}
		for _, k := range append(names, "", "0", "zz", "sig", "sign_") {
			var want []byte
			var wantOK bool
			for _, p := range f.params {
				if string(p.key) == k {
					want, wantOK = p.val, true
				}
			}
			got, ok := f.get(k)
			if ok != wantOK || string(got) != string(want) {
				t.Fatalf("get(%q) on %q = %q, %v; want %q, %v", k, parts, got, ok, want, wantOK)
			}
		}
	}
}

func TestLookupFieldMatchesMap(t *testing.T) {
	probe := func(k string) {
		t.Helper()
		got, ok := lookupField(k)
		want, wantOK := fields[k]
		if ok != wantOK || ok && (got.grammar != want.grammar || got.by != want.by ||
			reflect.ValueOf(got.set).Pointer() != reflect.ValueOf(want.set).Pointer()) {
			t.Fatalf("lookupField(%q) = %v, %v; want %v, %v", k, got, ok, want, wantOK)
		}
	}
	probe("")
	for k := range fields {
		probe(k)
		for i := range len(k) + 1 {
			probe(k[:i])
			probe(k[i:])
			for _, c := range []string{"_", "a", "z", "0", "&", "\x00", "\xff"} {
				probe(k[:i] + c + k[i:])
			}
		}
		probe(strings.ToUpper(k))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyz_019"[r.IntN(30)]
		}
		probe(string(b))
	}
}

// TestParamsLookupMatchesBinarySearchFunc checks the hand-written binary
// search against slices.BinarySearchFunc, on sorted Params and, since Params
// is a public type a caller can build unsorted, on unsorted ones too.
func TestParamsLookupMatchesBinarySearchFunc(t *testing.T) {
	ref := func(p Params, key string) (string, bool) {
		i, ok := slices.BinarySearchFunc(p, key, func(e Param, k string) int { return strings.Compare(e.Key, k) })
		if !ok {
			return "", false
		}
		return p[i].Value, true
	}
	r := rand.New(rand.NewPCG(5, 6))
	keys := []string{"", "a", "b", "app_id", "is_success", "refund_fee", "sign", "z", "zz"}
	for range 20000 {
		p := make(Params, r.IntN(8))
		for i := range p {
			p[i] = Param{Key: keys[r.IntN(len(keys))], Value: string(rune('A' + i))}
		}
		if r.IntN(2) == 0 {
			slices.SortFunc(p, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
		}
		for _, k := range keys {
			gv, gok := p.Lookup(k)
			wv, wok := ref(p, k)
			if gv != wv || gok != wok {
				t.Fatalf("%v.Lookup(%q) = %q, %v; want %q, %v", p, k, gv, gok, wv, wok)
			}
		}
	}
}

func TestSortParamsMatchesSortFunc(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	keys := []string{"a", "b", "ab", "aa", "app_id", "sign", "sign_type", "z", "_x", "0"}
	for range 20000 {
		n := r.IntN(60)
		ps := make([]rawParam, n)
		for i := range ps {
			k := keys[r.IntN(len(keys))] + keys[r.IntN(len(keys))]
			ps[i] = rawParam{key: []byte(k), val: []byte{byte(i)}}
		}
		want := slices.Clone(ps)
		slices.SortStableFunc(want, func(a, b rawParam) int { return bytes.Compare(a.key, b.key) })
		sortParams(ps)
		for i := range ps {
			if !bytes.Equal(ps[i].key, want[i].key) {
				t.Fatalf("sortParams: key %d = %q, want %q", i, ps[i].key, want[i].key)
			}
		}
	}
}

// TestBoundarySpecsMatchParams checks that checkBoundaries records, for
// every parameter that reaches Params and in Params' order, the fields
// entry fill would look up, on every test vector.
func TestBoundarySpecsMatchParams(t *testing.T) {
	seeds, _ := filepath.Glob("testdata/*.json")
	checked := 0
	for _, s := range seeds {
		raw, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		var vec struct {
			FormBody string `json:"formBody"`
		}
		if json.Unmarshal(raw, &vec) != nil || vec.FormBody == "" {
			continue
		}
		f := getForm()
		if err := f.parse([]byte(vec.FormBody), DefaultMaxParams); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if err := checkBoundaries(f); err != nil {
			putForm(f)
			continue
		}
		params, err := toUTF8(f, UTF8)
		if err != nil {
			putForm(f)
			continue
		}
		if len(f.specs) != len(params) {
			t.Fatalf("%s: %d specs for %d params", s, len(f.specs), len(params))
		}
		for i, p := range params {
			want, _ := lookupField(p.Key)
			if f.specs[i] != want {
				t.Fatalf("%s: spec %d is not the one of %q", s, i, p.Key)
			}
		}
		checked++
		putForm(f)
	}
	if checked < 10 {
		t.Fatalf("only %d vectors checked", checked)
	}
}

// TestSlotsMatchLookup checks that every slot name is a field (or the slot
// would never be filled) and that inSlot finds what lookup finds, on every
// test vector and on forms that lack or repeat-empty the envelope fields.
func TestSlotsMatchLookup(t *testing.T) {
	for s := slot(1); s < numSlots; s++ {
		if e := lookupEntry(slotNames[s]); e == nil || e.slot != s {
			t.Fatalf("slot %d (%q) is not recorded in fieldTable", s, slotNames[s])
		}
	}
	bodies := []string{"", "a=1", "sign=&sign_type=&app_id=&charset=", "result=success&request_token=x&sign=abc"}
	seeds, _ := filepath.Glob("testdata/*.json")
	for _, s := range seeds {
		raw, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		var vec struct {
			FormBody string `json:"formBody"`
		}
		if json.Unmarshal(raw, &vec) == nil && vec.FormBody != "" {
			bodies = append(bodies, vec.FormBody)
		}
	}
	for _, body := range bodies {
		f := getForm()
		if err := f.parse([]byte(body), DefaultMaxParams); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		for s := slot(1); s < numSlots; s++ {
			got, gotOK := f.inSlot(s)
			want, wantOK := f.lookup(slotNames[s])
			if gotOK != wantOK || !bytes.Equal(got.key, want.key) || !bytes.Equal(got.val, want.val) || got.voff != want.voff {
				t.Fatalf("%q: slot %q is %q=%q (%v), lookup %q=%q (%v)", body, slotNames[s], got.key, got.val, gotOK, want.key, want.val, wantOK)
			}
		}
		putForm(f)
	}
}

// TestNotificationWithParamsSize keeps notificationWithParams within the
// 1792-byte size class its comment promises: a field added to Notification
// that pushes it over should shrink the Params room instead.
func TestNotificationWithParamsSize(t *testing.T) {
	if size := unsafe.Sizeof(notificationWithParams{}); size > 1792 {
		t.Fatalf("notificationWithParams is %d bytes, over the 1792-byte size class", size)
	}
}

// TestAllInWords checks the word-at-a-time digit and alphanumeric tests
// against the byte-class table: every byte value at every position of ids
// of 1 to 20 bytes, and random ids.
func TestAllInWords(t *testing.T) {
	ref := func(s string, class uint8) bool {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if byteClasses[s[i]]&class == 0 {
				return false
			}
		}
		return true
	}
	check := func(s []byte) {
		t.Helper()
		for _, class := range []uint8{cDigit, cAlnum} {
			if got, want := allIn(string(s), class), ref(string(s), class); got != want {
				t.Fatalf("allIn(%q, %d) = %v, want %v", s, class, got, want)
			}
		}
	}
	everyByteEverywhere([]byte("09azAZ"), check)
	r := rand.New(rand.NewPCG(21, 22))
	alphabet := []byte("09azAZ/:@[`{\x00\x7f\x80\xb0\xb9\xff")
	for range 200000 {
		s := make([]byte, 1+r.IntN(40))
		for i := range s {
			if r.IntN(10) == 0 {
				s[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				s[i] = "0123456789abcXYZ"[r.IntN(16)]
			}
		}
		check(s)
	}
}

// everyByteEverywhere calls check on each run of 1 to 20 copies of a
// background byte, and on each such run with one position set to each of
// the 256 byte values: every word alignment and every byte a word check
// can meet.
func everyByteEverywhere(backgrounds []byte, check func([]byte)) {
	for _, bg := range backgrounds {
		for n := 1; n <= 20; n++ {
			s := bytes.Repeat([]byte{bg}, n)
			check(s)
			for pos := range n {
				for c := range 256 {
					s[pos] = byte(c)
					check(s)
				}
				s[pos] = bg
			}
		}
	}
}
