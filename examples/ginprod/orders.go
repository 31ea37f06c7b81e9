package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/alipaynotify/alipaynotify"
)

// Orders is the shop's order book, as CheckOrder needs it. Replace
// FileOrders with a lookup in your own database.
type Orders interface {
	// OrderAmount returns the amount of the order the shop created as
	// outTradeNo, or an error wrapping ErrUnknownOrder when there is none.
	OrderAmount(ctx context.Context, outTradeNo string) (alipaynotify.Amount, error)
}

// ErrUnknownOrder: the shop never created an order with that out_trade_no.
var ErrUnknownOrder = errors.New("unknown order")

// CheckOrder is the check Alipay tells merchants to make after the
// signature (alipaynotify.Options.CheckOrder): the order exists, and the
// callback's amount is the order's. It uses the recipe,
// Notification.CheckTotalAmount, never a comparison of TotalAmount by hand: a
// mobile web call_back_url return signs no amount, and must reach the page
// rather than be refused as a 0.00 payment.
func CheckOrder(orders Orders) func(context.Context, *alipaynotify.Notification) error {
	return func(ctx context.Context, n *alipaynotify.Notification) error {
		want, err := orders.OrderAmount(ctx, n.OutTradeNo)
		if err != nil {
			return err
		}
		return n.CheckTotalAmount(want)
	}
}

// FileOrders is an Orders read from a text file, one order per line:
//
//	# out_trade_no amount (yuan)
//	ORDER-1001 88.88
//	ORDER-1002 0.50
//
// Blank lines and lines starting with # are ignored; the amount is decimal
// yuan with at most two places, parsed exactly (never as a float). The file
// is read again whenever its size or modification time changes, so orders
// can be added while the server runs (a test or alipaysim's -orders-file
// appends the orders of the trades it is about to pay).
type FileOrders struct {
	path string

	mu      sync.Mutex
	size    int64
	modTime time.Time
	orders  map[string]alipaynotify.Amount
	err     error // the last reload's, while the file stays as it is
}

// OpenFileOrders reads the order book at path. An unreadable or malformed
// file is an error, so that a wrong ALIPAY_ORDERS_FILE fails at start-up.
func OpenFileOrders(path string) (*FileOrders, error) {
	f := &FileOrders{path: path}
	if err := f.refresh(); err != nil {
		return nil, err
	}
	return f, nil
}

// OrderAmount implements Orders.
func (f *FileOrders) OrderAmount(_ context.Context, outTradeNo string) (alipaynotify.Amount, error) {
	if err := f.refresh(); err != nil {
		// A file being rewritten may not parse for a moment: the callback is
		// refused, and Alipay's retry finds the order.
		return 0, err
	}
	f.mu.Lock()
	a, ok := f.orders[outTradeNo]
	f.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownOrder, outTradeNo)
	}
	return a, nil
}

// Len returns the number of orders in the book as last read.
func (f *FileOrders) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.orders)
}

// refresh reads the file again if its size or modification time changed.
func (f *FileOrders) refresh() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("ALIPAY_ORDERS_FILE: %w", err)
	}
	if f.orders != nil && fi.Size() == f.size && fi.ModTime().Equal(f.modTime) {
		return f.err
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("ALIPAY_ORDERS_FILE: %w", err)
	}
	f.size, f.modTime = fi.Size(), fi.ModTime()
	orders, err := parseOrders(data)
	if err != nil {
		f.err = fmt.Errorf("ALIPAY_ORDERS_FILE %s: %w", f.path, err)
		if f.orders == nil {
			f.orders = map[string]alipaynotify.Amount{}
		}
		return f.err
	}
	f.orders, f.err = orders, nil
	return nil
}

// parseOrders parses the order book format of FileOrders.
func parseOrders(data []byte) (map[string]alipaynotify.Amount, error) {
	orders := map[string]alipaynotify.Amount{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want \"out_trade_no amount\", got %d fields", line, len(fields))
		}
		amount, err := alipaynotify.ParseAmount(fields[1])
		if err != nil || amount <= 0 {
			return nil, fmt.Errorf("line %d: the amount of %q is not a positive number of yuan with at most two decimals", line, fields[0])
		}
		if old, dup := orders[fields[0]]; dup && old != amount {
			return nil, fmt.Errorf("line %d: order %q appears again with another amount", line, fields[0])
		}
		orders[fields[0]] = amount
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return orders, nil
}
