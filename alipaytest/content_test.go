package alipaytest_test

import (
	"testing"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

func TestContent(t *testing.T) {
	p := alipaytest.NewWireParams(
		"sign", "SIG",
		"subject", "测试 + 100% & more",
		"body", "",
		"sign_type", "RSA2",
		"app_id", "2021000000000001",
		"passback_params", "a%3Db%26c",
		"Z", "upper sorts first",
		"memo", " trailing ",
	)
	tests := []struct {
		rule  alipaytest.Rule
		empty alipaytest.EmptyValues
		want  string
	}{
		{alipaytest.V1, alipaytest.DropEmpty, "Z=upper sorts first&app_id=2021000000000001&memo= trailing &passback_params=a%3Db%26c&subject=测试 + 100% & more"},
		{alipaytest.V1, alipaytest.KeepEmpty, "Z=upper sorts first&app_id=2021000000000001&body=&memo= trailing &passback_params=a%3Db%26c&subject=测试 + 100% & more"},
		{alipaytest.V2, alipaytest.DropEmpty, "Z=upper sorts first&app_id=2021000000000001&memo= trailing &passback_params=a%3Db%26c&sign_type=RSA2&subject=测试 + 100% & more"},
		{alipaytest.V2, alipaytest.KeepEmpty, "Z=upper sorts first&app_id=2021000000000001&body=&memo= trailing &passback_params=a%3Db%26c&sign_type=RSA2&subject=测试 + 100% & more"},
	}
	for _, tt := range tests {
		t.Run(tt.rule.String()+"/"+tt.empty.String(), func(t *testing.T) {
			if got := alipaytest.Content(p, tt.rule, tt.empty); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	if got := alipaytest.Content(nil, alipaytest.V1, alipaytest.DropEmpty); got != "" {
		t.Errorf("nil params: %q", got)
	}
}
