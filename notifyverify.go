package alipaynotify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// checkNotifyID performs the legacy notify_verify call:
// GET gateway?service=notify_verify&partner=P&notify_id=ID. Only the body
// "true" (surrounding whitespace ignored) accepts.
func checkNotifyID(ctx context.Context, client *http.Client, gateway, partner, notifyID string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sep := "?"
	if strings.Contains(gateway, "?") {
		sep = "&"
	}
	u := gateway + sep + "service=notify_verify&partner=" + url.QueryEscape(partner) + "&notify_id=" + url.QueryEscape(notifyID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fieldErr(ErrRemoteCheck, "notify_id", "bad gateway URL")
	}
	resp, err := client.Do(req)
	if err != nil {
		return &FieldError{Field: "notify_id", Reason: "gateway unreachable: " + redactURLError(err), Err: ErrRemoteCheck}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return fieldErr(ErrRemoteCheck, "notify_id", "reading the answer failed")
	}
	if resp.StatusCode != http.StatusOK {
		return fieldErr(ErrRemoteCheck, "notify_id", fmt.Sprintf("gateway answered HTTP %d", resp.StatusCode))
	}
	if !bytes.Equal(bytes.TrimSpace(body), []byte("true")) {
		return &FieldError{Field: "notify_id", Reason: errNotifyVerifyAnswer.Error(), Err: ErrRemoteCheck}
	}
	return nil
}

// redactURLError keeps the cause of a transport error without the URL, which
// carries the notify_id.
func redactURLError(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
