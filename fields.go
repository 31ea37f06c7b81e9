package alipaynotify

import (
	"encoding/json"
	"time"
)

// readBy says which protocols have a field. A callback carrying a field of
// another protocol is refused (ErrAmbiguous): no field can override the
// protocol's own (a legacy callback's amount is total_fee, and total_amount
// there can only have been split out of free text before it).
type readBy uint8

const (
	readByOpen   readBy = 1 << iota // open platform
	readByMapi                      // legacy mapi
	readByWAP                       // legacy mobile web (WAP)
	readByLegacy = readByMapi | readByWAP
	readByAll    = readByOpen | readByLegacy
)

// readers is the bit of the protocol that reads a field.
func readers(p Protocol) readBy {
	switch p {
	case ProtocolOpenPlatform:
		return readByOpen
	case ProtocolWAP:
		return readByWAP
	}
	return readByMapi
}

// fieldSpec is how one parameter is checked and read.
type fieldSpec struct {
	grammar grammar
	by      readBy
	// set stores the value (never empty: empty parameters are dropped
	// before) in the Notification; nil for fields read elsewhere (charset,
	// partner, the WAP envelope, sign).
	set func(n *Notification, key, v string) error
}

// fields lists every parameter this package knows: their names are also the
// names the free-text rule looks for ("&k=" in a value).
var fields = map[string]fieldSpec{
	// Envelope and identity.
	"app_id":             {gDigits, readByOpen, text(func(n *Notification) *string { return &n.AppID })},
	"auth_app_id":        {gDigits, readByOpen, text(func(n *Notification) *string { return &n.AuthAppID })},
	"charset":            {gToken, readByOpen, nil},
	"_input_charset":     {gToken, readByLegacy, nil},
	"version":            {gVersion, readByOpen, text(func(n *Notification) *string { return &n.Version })},
	"method":             {gToken, readByOpen, text(func(n *Notification) *string { return &n.Method })},
	"timestamp":          {gTime, readByOpen, when(func(n *Notification) *time.Time { return &n.Timestamp })},
	"sign":               {gText, readByAll, nil},
	"sign_type":          {gToken, readByAll, nil},
	"alipay_cert_sn":     {gToken, readByOpen, nil},
	"partner":            {gDigits, readByLegacy, nil},
	"notify_id":          {gNotifyID, readByAll, text(func(n *Notification) *string { return &n.NotifyID })},
	"notify_type":        {gToken, readByAll, text(func(n *Notification) *string { return &n.NotifyType })},
	"notify_time":        {gTime, readByAll, when(func(n *Notification) *time.Time { return &n.NotifyTime })},
	"notify_action_type": {gToken, readByOpen, text(func(n *Notification) *string { return &n.NotifyActionType })},
	// Legacy mobile web envelope (wap.go reads it).
	"service":       {gToken, readByWAP, nil},
	"v":             {gVersion, readByWAP, nil},
	"sec_id":        {gToken, readByWAP, nil},
	"notify_data":   {gText, readByWAP, nil},
	"request_token": {gToken, readByWAP, nil},
	"result":        {gToken, readByWAP, nil},

	// Trade.
	"trade_no":      {gDigits, readByAll, text(func(n *Notification) *string { return &n.TradeNo })},
	"out_trade_no":  {gMerchantNo, readByAll, text(func(n *Notification) *string { return &n.OutTradeNo })},
	"out_biz_no":    {gMerchantNo, readByOpen, text(func(n *Notification) *string { return &n.refund().OutBizNo })},
	"trade_status":  {gStatus, readByAll, func(n *Notification, _, v string) error { n.TradeStatus = TradeStatus(v); return nil }},
	"refund_status": {gToken, readByLegacy, func(n *Notification, _, v string) error { n.refund().Status = RefundStatus(v); return nil }},

	// Parties.
	"buyer_id":       {gDigits, readByAll, text(func(n *Notification) *string { return &n.BuyerID })},
	"buyer_logon_id": {gText, readByOpen, text(func(n *Notification) *string { return &n.BuyerLogonID })},
	"buyer_open_id":  {gAlnum, readByOpen, text(func(n *Notification) *string { return &n.BuyerOpenID })},
	"buyer_email":    {gText, readByLegacy, text(func(n *Notification) *string { return &n.Legacy.BuyerEmail })},
	"seller_id":      {gDigits, readByAll, text(func(n *Notification) *string { return &n.SellerID })},
	"seller_email":   {gText, readByAll, text(func(n *Notification) *string { return &n.SellerEmail })},

	// Money. Only discount may be negative.
	"total_amount":     {gAmount, readByOpen, optionalMoney(func(n *Notification) *OptionalAmount { return &n.TotalAmount })},
	"total_fee":        {gAmount, readByLegacy, optionalMoney(func(n *Notification) *OptionalAmount { return &n.TotalAmount })},
	"receipt_amount":   {gAmount, readByOpen, optionalMoney(func(n *Notification) *OptionalAmount { return &n.ReceiptAmount })},
	"invoice_amount":   {gAmount, readByOpen, optionalMoney(func(n *Notification) *OptionalAmount { return &n.InvoiceAmount })},
	"buyer_pay_amount": {gAmount, readByOpen, optionalMoney(func(n *Notification) *OptionalAmount { return &n.BuyerPayAmount })},
	"point_amount":     {gAmount, readByOpen, money(func(n *Notification) *Amount { return &n.PointAmount })},
	"refund_fee":       {gAmount, readByOpen, money(func(n *Notification) *Amount { return &n.refund().Fee })},
	"send_back_fee":    {gAmount, readByOpen, money(func(n *Notification) *Amount { return &n.SendBackFee })},
	"price":            {gAmount, readByLegacy, money(func(n *Notification) *Amount { return &n.Legacy.Price })},
	"discount":         {gAmount, readByLegacy, signedMoney(func(n *Notification) *Amount { return &n.Legacy.Discount })},
	"logistics_fee":    {gAmount, readByLegacy, money(func(n *Notification) *Amount { return &n.logistics().Fee })},
	"quantity":         {gDigits, readByLegacy, text(func(n *Notification) *string { return &n.Legacy.Quantity })},

	// Times (China time).
	"gmt_create":           {gTime, readByAll, when(func(n *Notification) *time.Time { return &n.GmtCreate })},
	"gmt_payment":          {gTime, readByAll, when(func(n *Notification) *time.Time { return &n.GmtPayment })},
	"gmt_close":            {gTime, readByAll, when(func(n *Notification) *time.Time { return &n.GmtClose })},
	"gmt_refund":           {gTime, readByAll, when(func(n *Notification) *time.Time { return &n.refund().Time })},
	"gmt_send_goods":       {gTime, readByLegacy, when(func(n *Notification) *time.Time { return &n.Legacy.GmtSendGoods })},
	"gmt_logistics_modify": {gTime, readByLegacy, when(func(n *Notification) *time.Time { return &n.Legacy.GmtLogisticsModify })},

	// Free text echoed from the merchant's request or typed by the buyer.
	"subject":            {gText, readByAll, text(func(n *Notification) *string { return &n.Subject })},
	"body":               {gText, readByAll, text(func(n *Notification) *string { return &n.Body })},
	"passback_params":    {gText, readByOpen, text(func(n *Notification) *string { return &n.PassbackParams })},
	"extra_common_param": {gText, readByLegacy, text(func(n *Notification) *string { return &n.Legacy.ExtraCommonParam })},
	"fund_bill_list":     {gText, readByOpen, setFundBills},
	"voucher_detail_list": {gText, readByOpen, func(n *Notification, key, v string) error {
		if err := json.Unmarshal([]byte(htmlUnescapeQuotes(v)), &n.VoucherDetailList); err != nil {
			return fieldErr(ErrMalformed, key, "not a JSON array")
		}
		n.VoucherDetailListRaw = v
		return nil
	}},

	// Legacy trade details.
	"payment_type":        {gDigits, readByLegacy, text(func(n *Notification) *string { return &n.Legacy.PaymentType })},
	"is_total_fee_adjust": {gYN, readByLegacy, flag(func(n *Notification) *bool { return &n.Legacy.IsTotalFeeAdjust }, "Y")},
	"use_coupon":          {gYN, readByLegacy, flag(func(n *Notification) *bool { return &n.Legacy.UseCoupon }, "Y")},
	"is_success":          {gTF, readByLegacy, flag(func(n *Notification) *bool { return &n.Legacy.IsSuccess }, "T")},
	"buyer_actions":       {gToken, readByLegacy, text(func(n *Notification) *string { return &n.Legacy.BuyerActions })},
	"seller_actions":      {gToken, readByLegacy, text(func(n *Notification) *string { return &n.Legacy.SellerActions })},
	"exterface":           {gToken, readByLegacy, text(func(n *Notification) *string { return &n.Legacy.Exterface })},
	"logistics_type":      {gToken, readByLegacy, text(func(n *Notification) *string { return &n.logistics().Type })},
	"logistics_payment":   {gToken, readByLegacy, text(func(n *Notification) *string { return &n.logistics().Payment })},
	"receive_name":        {gText, readByLegacy, text(func(n *Notification) *string { return &n.receiver().Name })},
	"receive_address":     {gText, readByLegacy, text(func(n *Notification) *string { return &n.receiver().Address })},
	"receive_zip":         {gText, readByLegacy, text(func(n *Notification) *string { return &n.receiver().Zip })},
	"receive_phone":       {gText, readByLegacy, text(func(n *Notification) *string { return &n.receiver().Phone })},
	"receive_mobile":      {gText, readByLegacy, text(func(n *Notification) *string { return &n.receiver().Mobile })},
}

// fieldTable holds fields for the lookup of every parameter in fill: open
// addressing over 256 slots (fields fills under a third of them, so a probe
// always ends), with a hash of the name's length and its first, middle and
// last bytes. A lookup is one or a few string comparisons, about half the
// cost of the map.
var fieldTable = func() (t [256]*fieldEntry) {
	for name, spec := range fields {
		h := fieldHash(name)
		for t[h] != nil {
			h++
		}
		e := &fieldEntry{name: name, spec: spec}
		for s, n := range slotNames {
			if n == name && s != 0 {
				e.slot = slot(s)
			}
		}
		t[h] = e
	}
	return t
}()

type fieldEntry struct {
	name string
	spec fieldSpec
	slot slot // its place in form.slots, or noSlot
}

// slot numbers the envelope fields verify reads before the signature is
// checked: parse records where each is (form.slots), so reading one takes no
// search.
type slot uint8

const (
	noSlot slot = iota
	slotSign
	slotSignType
	slotAppID
	slotCharset
	slotInputCharset
	slotCertSN
	slotNotifyData
	slotSecID
	slotRequestToken
	slotResult
	numSlots
)

// slotNames are the names of the slots.
var slotNames = [numSlots]string{
	slotSign: "sign", slotSignType: "sign_type", slotAppID: "app_id", slotCharset: "charset",
	slotInputCharset: "_input_charset", slotCertSN: "alipay_cert_sn", slotNotifyData: "notify_data",
	slotSecID: "sec_id", slotRequestToken: "request_token", slotResult: "result",
}

func fieldHash[T string | []byte](k T) uint8 {
	return uint8(len(k)*37) ^ k[0]*7 ^ k[len(k)-1]*3 ^ k[len(k)/2]<<2
}

// lookupField is fields[k].
func lookupField[T string | []byte](k T) (*fieldSpec, bool) {
	if e := lookupEntry(k); e != nil {
		return &e.spec, true
	}
	return nil, false
}

// lookupEntry is fieldTable's entry of k, or nil.
func lookupEntry[T string | []byte](k T) *fieldEntry {
	if len(k) == 0 {
		return nil
	}
	for h := fieldHash(k); fieldTable[h] != nil; h++ {
		if e := fieldTable[h]; e.name == string(k) {
			return e
		}
	}
	return nil
}

// text stores a value as is.
func text(field func(*Notification) *string) func(*Notification, string, string) error {
	return func(n *Notification, _, v string) error {
		*field(n) = v
		return nil
	}
}

// flag stores whether the value is yes.
func flag(field func(*Notification) *bool, yes string) func(*Notification, string, string) error {
	return func(n *Notification, _, v string) error {
		*field(n) = v == yes
		return nil
	}
}

// when parses an Alipay time (China time).
func when(field func(*Notification) *time.Time) func(*Notification, string, string) error {
	return func(n *Notification, key, v string) error {
		t, err := ParseTime(v)
		if err != nil {
			return fieldErr(ErrMalformed, key, err.Error())
		}
		*field(n) = t
		return nil
	}
}

// money parses an amount that cannot be negative.
func money(field func(*Notification) *Amount) func(*Notification, string, string) error {
	return func(n *Notification, key, v string) error {
		a, err := parseNonNegative(key, v)
		if err != nil {
			return err
		}
		*field(n) = a
		return nil
	}
}

// optionalMoney parses an amount that cannot be negative into an
// OptionalAmount, present.
func optionalMoney(field func(*Notification) *OptionalAmount) func(*Notification, string, string) error {
	return func(n *Notification, key, v string) error {
		a, err := parseNonNegative(key, v)
		if err != nil {
			return err
		}
		*field(n) = AmountPresent(a)
		return nil
	}
}

// signedMoney parses an amount that may be negative (legacy discount).
func signedMoney(field func(*Notification) *Amount) func(*Notification, string, string) error {
	return func(n *Notification, key, v string) error {
		a, err := parseAmountField(key, v)
		if err != nil {
			return err
		}
		*field(n) = a
		return nil
	}
}

// parseNonNegative parses an amount that cannot be negative (v is never
// empty).
func parseNonNegative(key, v string) (Amount, error) {
	if v[0] == '-' {
		return 0, fieldErr(ErrAmount, key, "negative")
	}
	return parseAmountField(key, v)
}

func parseAmountField(key, v string) (Amount, error) {
	a, err := ParseAmount(v)
	if err != nil {
		return 0, fieldErr(ErrAmount, key, err.Error())
	}
	return a, nil
}

func setFundBills(n *Notification, _, v string) error {
	bills, err := parseFundBills(v)
	if err != nil {
		return err
	}
	n.FundBillListRaw, n.FundBillList = v, bills
	return nil
}
