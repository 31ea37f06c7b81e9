package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
)

func TestParseOrders(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     map[string]alipaynotify.Amount
		err      string // "" when valid
	}{
		{"empty", "", map[string]alipaynotify.Amount{}, ""},
		{"orders, comments and blank lines", "# the book\nORDER-1 88.88\n\n  ORDER-2   0.5  \n\t# more\nORDER-3 100\n",
			map[string]alipaynotify.Amount{"ORDER-1": 8888, "ORDER-2": 50, "ORDER-3": 10000}, ""},
		{"no final newline", "ORDER-1 1.00", map[string]alipaynotify.Amount{"ORDER-1": 100}, ""},
		{"the same order twice", "ORDER-1 1.00\nORDER-1 1.00\n", map[string]alipaynotify.Amount{"ORDER-1": 100}, ""},
		{"the same order with another amount", "ORDER-1 1.00\nORDER-1 2.00\n", nil, "line 2"},
		{"amount missing", "ORDER-1\n", nil, "line 1"},
		{"a trailing word", "ORDER-1 1.00 paid\n", nil, "line 1"},
		{"three decimals", "ORDER-1 1.001\n", nil, "line 1"},
		{"a float", "ORDER-1 1e3\n", nil, "line 1"},
		{"negative", "ORDER-1 -1.00\n", nil, "line 1"},
		{"zero", "ORDER-1 0.00\n", nil, "line 1"},
		{"CRLF", "ORDER-1 1.00\r\nORDER-2 2.00\r\n", map[string]alipaynotify.Amount{"ORDER-1": 100, "ORDER-2": 200}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseOrders([]byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one naming %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

// TestFileOrdersRereads: orders appended while the server runs are found;
// a file that stops parsing refuses lookups until it is fixed.
func TestFileOrdersRereads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.txt")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("A 1.00\n")
	f, err := OpenFileOrders(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.OrderAmount(ctx, "B"); !errors.Is(err, ErrUnknownOrder) {
		t.Fatalf("B before it is added: %v", err)
	}
	write("A 1.00\nB 2.50\n") // a different size
	if a, err := f.OrderAmount(ctx, "B"); err != nil || a != 250 {
		t.Fatalf("B after it is added: %v %v", a, err)
	}
	write("A 1.00\nB 2.5xx\n") // a different size again
	if _, err := f.OrderAmount(ctx, "A"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("lookup in a malformed book: %v", err)
	}
	write("A 1.00\nB 2.50\n") // the same size as before: the time tells
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if a, err := f.OrderAmount(ctx, "B"); err != nil || a != 250 {
		t.Fatalf("B after the fix: %v %v", a, err)
	}
	if f.Len() != 2 {
		t.Fatalf("Len = %d", f.Len())
	}

	// CheckOrder uses the recipe: the amount must match.
	check := CheckOrder(f)
	n := &alipaynotify.Notification{OutTradeNo: "B"}
	if err := check(ctx, n); err == nil {
		t.Fatal("a notification without an amount passed the order check")
	}

	if _, err := OpenFileOrders(filepath.Join(t.TempDir(), "missing.txt")); err == nil || !strings.Contains(err.Error(), "ALIPAY_ORDERS_FILE") {
		t.Fatalf("a missing file: %v", err)
	}
}
