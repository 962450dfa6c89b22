//! The mapping, from JSON shaped as the TMF v4 specifications (the swagger files docs/bss.md
//! names) write their resources: attribute names, types and enumerated values as there; the
//! values are written for these tests.

use super::*;

fn day(text: &str) -> Date {
    iso_date::parse(text).unwrap_or_else(|e| unreachable!("{e}"))
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
    serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{e}"))
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap_or_else(|e| unreachable!("{e}")))
}

#[test]
fn money_is_exact_from_the_number_text() {
    let cases = [
        ("19.99", 1999),
        ("0.1", 10),
        ("1234567.89", 123_456_789),
        ("-5", -500),
        ("12.300", 1230),
        ("\"7.5\"", 750),
        ("3.0", 300),
    ];
    for (text, minor) in cases {
        let m: WireMoney = parse(&format!(r#"{{"unit":"EUR","value":{text}}}"#));
        assert_eq!(m.money(), Ok(eur(minor)), "{text}");
    }
    for bad in ["1e3", "\"abc\"", "null", "true", "1.234", "[1]"] {
        let m: WireMoney = parse(&format!(r#"{{"unit":"EUR","value":{bad}}}"#));
        assert!(matches!(m.money(), Err(BssError::Malformed(_))), "{bad}");
    }
    let m: WireMoney = parse(r#"{"unit":"euro","value":1}"#);
    assert!(matches!(m.money(), Err(BssError::Malformed(_))));
}

#[test]
fn customer_with_contact_media_and_segment() {
    let c: Customer = parse(
        r#"{
        "id": "CUST-1001", "href": "https://bss/tmf-api/customerManagement/v4/customer/CUST-1001",
        "name": "Lucía Fernández Ruiz", "status": "Approved", "@type": "Customer",
        "engagedParty": {"id": "IND-1001", "name": "Lucía Fernández Ruiz", "@referredType": "Individual"},
        "contactMedium": [
          {"mediumType": "email", "preferred": true, "characteristic": {"emailAddress": "lucia@example.es", "contactType": "home"}},
          {"mediumType": "telephoneNumber", "preferred": false, "characteristic": {"phoneNumber": "+34611222333"}},
          {"mediumType": "postalAddress", "characteristic": {"street1": "Calle de Atocha 45", "street2": "3º B", "city": "Madrid", "postCode": "28012", "country": "ES"}},
          {"mediumType": "fax", "characteristic": {"faxNumber": "+34911"}}
        ],
        "characteristic": [{"name": "segment", "valueType": "string", "value": "Gold"}],
        "unknownExtension": {"anything": [1, 2]}
      }"#,
    );
    let c = c.into_record().unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(c.id.as_str(), "CUST-1001");
    assert_eq!(c.status, "approved");
    assert_eq!(c.segment, "gold");
    assert_eq!(c.contacts.len(), 2);
    assert_eq!(
        c.contacts[0],
        ContactPoint { kind: ContactKind::Email, value: "lucia@example.es".into(), preferred: true }
    );
    assert_eq!(c.contacts[1].kind, ContactKind::Phone);
    let a = c.address.unwrap_or_else(|| unreachable!());
    assert_eq!(
        (a.street.as_str(), a.postcode.as_str(), a.city.as_str()),
        ("Calle de Atocha 45, 3º B", "28012", "Madrid")
    );
}

#[test]
fn customer_without_name_or_with_a_bad_id_is_malformed() {
    let c: Customer = parse(r#"{"id": "C1", "contactMedium": null}"#);
    assert!(matches!(c.into_record(), Err(BssError::Malformed(_))));
    let c: Customer = parse(r#"{"id": "../etc", "name": "X"}"#);
    assert!(matches!(c.into_record(), Err(BssError::Malformed(_))));
    assert!(serde_json::from_str::<Customer>(r#"{"name": "no id"}"#).is_err());
}

#[test]
fn billing_account_balances() {
    let a: WireBillingAccount = parse(
        r#"{"id": "ACC-2001", "name": "Lucía Fernández", "state": "Active", "ratingType": "postpaid", "@type": "BillingAccount",
            "accountBalance": [
              {"balanceType": "totalBalance", "amount": {"unit": "EUR", "value": 87.45}, "validFor": {"startDateTime": "2026-11-01T00:00:00Z", "endDateTime": "2026-11-20T00:00:00Z"}},
              {"balanceType": "overdueBalance", "amount": {"unit": "EUR", "value": 42.1}}
            ]}"#,
    );
    let a = a.into_record().unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        (a.kind, a.balance, a.overdue, a.due_date),
        (PaymentKind::Postpaid, eur(8745), eur(4210), Some(day("2026-11-20")))
    );
    assert_eq!(a.status, "active");
    let a: WireBillingAccount = parse(
        r#"{"id": "ACC-1", "ratingType": "prepaid", "accountBalance": [{"balanceType": "totalBalance", "amount": {"unit": "EUR", "value": -10}}]}"#,
    );
    let a = a.into_record().unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((a.kind, a.balance, a.overdue), (PaymentKind::Prepaid, eur(-1000), eur(0)));
    let a: WireBillingAccount = parse(r#"{"id": "ACC-1", "accountBalance": []}"#);
    assert!(matches!(a.into_record(), Err(BssError::Malformed(_))));
    let a: WireBillingAccount = parse(r#"{"id": "ACC-1", "ratingType": "weird", "accountBalance": []}"#);
    assert!(matches!(a.into_record(), Err(BssError::Malformed(_))));
}

#[test]
fn product_with_prices_terms_and_add_on() {
    let p: WireProduct = parse(
        r#"{"id": "PRD-3001", "name": "Fibra 1 Gb", "status": "active", "startDate": "2025-03-14T09:00:00Z", "@type": "Product",
            "productOffering": {"id": "fibre-1g", "name": "Fibra 1 Gb"},
            "billingAccount": {"id": "ACC-2001"},
            "productSerialNumber": "FTTH-28012-0042",
            "productCharacteristic": [{"name": "serviceType", "value": "fibre"}],
            "productPrice": [
              {"priceType": "recurring", "recurringChargePeriod": "month", "price": {"taxIncludedAmount": {"unit": "EUR", "value": 45.0}, "dutyFreeAmount": {"unit": "EUR", "value": 37.19}}},
              {"priceType": "penalty", "price": {"taxIncludedAmount": {"unit": "EUR", "value": 120}}}
            ],
            "productTerm": [{"name": "permanencia", "duration": {"amount": 12, "units": "month"}, "validFor": {"startDateTime": "2025-03-14T00:00:00Z", "endDateTime": "2026-03-14T00:00:00Z"}}],
            "productRelationship": []}"#,
    );
    let p = p.into_record().unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((p.family, p.status), (ProductFamily::Fibre, ProductStatus::Active));
    assert_eq!(p.identifier.as_deref(), Some("FTTH-28012-0042"));
    assert_eq!((p.recurring_price, p.early_termination_fee), (Some(eur(4500)), Some(eur(12000))));
    assert_eq!((p.start_date, p.commitment_end), (Some(day("2025-03-14")), Some(day("2026-03-14"))));
    let addon: WireProduct = parse(
        r#"{"id": "PRD-3002", "status": "pendingActive", "productOffering": {"id": "tv-futbol", "name": "Fútbol"}, "billingAccount": {"id": "ACC-2001"},
            "productCharacteristic": [{"name": "serviceType", "value": "tv"}, {"name": "msisdn", "value": "+34611222333"}],
            "productRelationship": [{"relationshipType": "addOnOf", "product": {"id": "PRD-3001"}}]}"#,
    );
    let addon = addon.into_record().unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(addon.parent.as_ref().map(ProductRef::as_str), Some("PRD-3001"));
    assert_eq!((addon.name.as_str(), addon.status), ("Fútbol", ProductStatus::Pending));
    assert_eq!(addon.identifier.as_deref(), Some("+34611222333"));
    let bad: WireProduct =
        parse(r#"{"id": "P", "status": "exploded", "productOffering": {"id": "o"}, "billingAccount": {"id": "a"}}"#);
    assert!(matches!(bad.into_record(), Err(BssError::Malformed(_))));
    let no_account: WireProduct = parse(r#"{"id": "P", "productOffering": {"id": "o"}}"#);
    assert!(matches!(no_account.into_record(), Err(BssError::Malformed(_))));
}

#[test]
fn bills_and_their_items() {
    let json = r#"{"id": "BILL-2026-10", "billNo": "F-2026-000123", "billDate": "2026-10-01T00:00:00Z", "paymentDueDate": "2026-10-20T00:00:00Z",
        "billingPeriod": {"startDateTime": "2026-09-01T00:00:00Z", "endDateTime": "2026-09-30T23:59:59Z"}, "state": "sent",
        "amountDue": {"unit": "EUR", "value": 64.9}, "remainingAmount": {"unit": "EUR", "value": 64.9},
        "billingAccount": {"id": "ACC-2001", "@referredType": "BillingAccount"}, "@type": "CustomerBill"}"#;
    let b: CustomerBill = parse(json);
    let b = b.into_record(day("2026-11-29")).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        (b.state, b.total, b.unpaid, b.number.as_str()),
        (BillState::Overdue, eur(6490), eur(6490), "F-2026-000123")
    );
    assert_eq!((b.period_start, b.period_end, b.due), (day("2026-09-01"), day("2026-09-30"), day("2026-10-20")));
    let b: CustomerBill = parse(json);
    assert_eq!(b.into_record(day("2026-10-05")).map(|b| b.state), Ok(BillState::New));
    let settled: CustomerBill = parse(&json.replace("\"sent\"", "\"settled\"").replace(
        "\"remainingAmount\": {\"unit\": \"EUR\", \"value\": 64.9}",
        "\"remainingAmount\": {\"unit\": \"EUR\", \"value\": 0}",
    ));
    assert_eq!(settled.into_record(day("2026-11-29")).map(|b| b.state), Ok(BillState::Settled));

    let rate: AppliedCustomerBillingRate = parse(
        r#"{"id": "ACBR-1", "name": "Cuota mensual", "description": "Fibra 1 Gb, octubre", "type": "recurringCharge", "isBilled": true,
            "bill": {"id": "BILL-2026-10"}, "product": {"id": "PRD-3001"}, "taxIncludedAmount": {"unit": "EUR", "value": 45}}"#,
    );
    let item = rate.into_item(true).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((item.kind, item.amount, item.adjustable), (BillItemKind::Recurring, eur(4500), true));
    assert_eq!(item.description, "Fibra 1 Gb, octubre");
    // Only the values TMF678 v4 documents for `type`; a tax is not a rate (it is a `taxItem`).
    for bad in ["mystery", "recurring", "tax", "adjustment"] {
        let odd: AppliedCustomerBillingRate = parse(&format!(
            r#"{{"id": "ACBR-3", "type": "{bad}", "taxIncludedAmount": {{"unit": "EUR", "value": 1}}}}"#
        ));
        assert!(matches!(odd.into_item(true), Err(BssError::Malformed(_))), "{bad}");
    }
}

#[test]
fn an_adjustment_rate_is_a_credit() {
    let rate: AppliedCustomerBillingRate = parse(
        r#"{"id": "ADJ-9", "type": "appliedBillingCredit", "name": "service_outage", "date": "2026-11-29T10:00:00Z", "bill": {"id": "BILL-1"},
            "taxIncludedAmount": {"unit": "EUR", "value": -15.5},
            "characteristic": [{"name": "externalId", "value": "hub-adj-1"}, {"name": "reasonCode", "value": "service_outage"}, {"name": "adjustedItem", "value": "ACBR-1"}]}"#,
    );
    assert_eq!(rate.external_id(), Some("hub-adj-1"));
    let a = rate.into_adjustment().unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((a.amount, a.reason.as_str()), (eur(1550), "service_outage"));
    assert_eq!(a.item.as_ref().map(BillItemRef::as_str), Some("ACBR-1"));
    let as_item: AppliedCustomerBillingRate = parse(
        r#"{"id": "ADJ-9", "type": "appliedBillingCredit", "taxIncludedAmount": {"unit": "EUR", "value": -15.5},
            "characteristic": [{"name": "reasonCode", "valueType": "string", "value": "service_outage"}]}"#,
    );
    let item = as_item.into_item(true).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((item.kind, item.amount, item.adjustable), (BillItemKind::Adjustment, eur(-1550), false));
}

#[test]
fn rate_types_as_tmf678_v4_documents_them() {
    let kind = |t: &str, extra: &str| {
        let r: AppliedCustomerBillingRate = parse(&format!(
            r#"{{"id": "R1", "type": "{t}", "taxIncludedAmount": {{"unit": "EUR", "value": 1}}{extra}}}"#
        ));
        r.into_item(true).map(|i| (i.kind, i.adjustable))
    };
    let period =
        r#", "periodCoverage": {"startDateTime": "2026-11-01T00:00:00Z", "endDateTime": "2026-11-30T23:59:59Z"}"#;
    assert_eq!(kind("recurringCharge", ""), Ok((BillItemKind::Recurring, true)));
    assert_eq!(kind("usageCharge", ""), Ok((BillItemKind::Usage, true)));
    assert_eq!(kind("oneTimeCharge", ""), Ok((BillItemKind::OneTime, true)));
    assert_eq!(kind("appliedPenaltyCharge", ""), Ok((BillItemKind::OneTime, true)));
    assert_eq!(kind("appliedBillingCharge", period), Ok((BillItemKind::Recurring, true)));
    assert_eq!(kind("appliedBillingCharge", ""), Ok((BillItemKind::OneTime, true)));
    for credit in ["appliedBillingCredit", "rebate", "productAlteration"] {
        assert_eq!(kind(credit, ""), Ok((BillItemKind::Discount, false)), "{credit}");
    }
}

#[test]
fn shapes_of_the_tmf678_examples() {
    // A bill read with `fields` limited to a few attributes, and rates with their applied tax,
    // as the specification's examples show them (integer and fractional money values, a
    // fractional-second date-time).
    let bill: CustomerBill = parse(
        r#"{"id": "CB-123", "href": "https://server/tmf-api/customerBillManagement/v4/customerBill/CB-123",
            "billDate": "2019-12-07T13:02:34.123Z",
            "billingAccount": {"id": "A0815", "name": "BA Peter Retep", "@referredType": "BillingAccount"},
            "taxIncludedAmount": {"unit": "EUR", "value": 50}, "@type": "CustomerBill"}"#,
    );
    let bill = bill.into_record(day("2019-12-07")).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((bill.total, bill.unpaid, bill.state), (eur(5000), eur(5000), BillState::New));
    assert_eq!((bill.issued, bill.due, bill.number.as_str()), (day("2019-12-07"), day("2019-12-07"), "CB-123"));
    let rate: AppliedCustomerBillingRate = parse(
        r#"{"id": "ACBR-123", "@type": "AppliedCustomerBillingRate", "name": "voice usage", "type": "usageCharge",
            "isBilled": true, "date": "2019-11-29T17:02:34.123Z", "description": "voice usage.",
            "bill": {"id": "CB-123", "@referredType": "CustomerBill"},
            "billingAccount": {"id": "A0815", "@referredType": "BillingAccount"},
            "product": {"id": "PROD-123", "name": "Voice service", "@referredType": "Product"},
            "taxExcludedAmount": {"unit": "EUR", "value": 0.4}, "taxIncludedAmount": {"unit": "EUR", "value": 0.5},
            "appliedTax": [{"taxCategory": "VAT", "taxRate": 0.2, "taxAmount": {"unit": "EUR", "value": 0.1}}],
            "characteristic": [{"name": "message", "valueType": "string", "value": "Special discount this month only"}],
            "periodCoverage": {"startDateTime": "2019-11-01T00:00:00.000Z", "endDateTime": "2019-11-30T23:59:59.999Z"}}"#,
    );
    let item = rate.into_item(false).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((item.kind, item.amount, item.adjustable), (BillItemKind::Usage, eur(40), false));
    assert_eq!(
        (item.description.as_str(), item.product.as_ref().map(ProductRef::as_str)),
        ("voice usage.", Some("PROD-123"))
    );
}

#[test]
fn a_bill_s_taxes_are_its_tax_items() {
    let b: CustomerBill = parse(
        r#"{"id": "BILL-1", "billDate": "2026-11-01T00:00:00Z", "state": "validated",
            "amountDue": {"unit": "EUR", "value": 54.45}, "taxExcludedAmount": {"unit": "EUR", "value": 45},
            "taxItem": [{"taxCategory": "IVA", "taxRate": 0.21, "taxAmount": {"unit": "EUR", "value": 9.45}}],
            "billingAccount": {"id": "ACC-1"}}"#,
    );
    let b = b.into_record(day("2026-11-01")).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(b.state, BillState::New);
    assert_eq!(b.items.len(), 1);
    let tax = &b.items[0];
    assert_eq!((tax.kind, tax.amount, tax.adjustable), (BillItemKind::Tax, eur(945), false));
    assert_eq!((tax.id.as_str(), tax.description.as_str()), ("BILL-1:tax:1", "IVA (0.21)"));
    // `stateValue` has no `inProgress` (v4: new, onHold, validated, sent, partiallyPaid, settled).
    let b: CustomerBill = parse(
        r#"{"id": "B", "billDate": "2026-11-01", "state": "inProgress", "amountDue": {"unit": "EUR", "value": 1}, "billingAccount": {"id": "A"}}"#,
    );
    assert!(matches!(b.into_record(day("2026-11-02")), Err(BssError::Malformed(_))));
}

#[test]
fn catalogue_offerings_join_their_prices() {
    let o: ProductOffering = parse(
        r#"{"id": "fibre-1g", "name": "Fibra 1 Gb", "description": "Simétrica", "lifecycleStatus": "Launched", "isBundle": false,
            "category": [{"id": "c1", "name": "fibre"}, {"id": "c9", "name": "installation"}],
            "productOfferingPrice": [{"id": "pop-1", "name": "Cuota"}, {"id": "pop-2", "name": "Alta"}],
            "productOfferingTerm": [{"name": "12 meses", "duration": {"amount": 12, "units": "month"}}],
            "productOfferingRelationship": [{"id": "fibre-600", "relationshipType": "exchangableTo"}, {"id": "x", "relationshipType": "requires"}, {"relationshipType": "exchangableTo"}]}"#,
    );
    let prices: std::collections::HashMap<String, ProductOfferingPrice> = [
        parse::<ProductOfferingPrice>(
            r#"{"id": "pop-1", "priceType": "recurring", "price": {"unit": "EUR", "value": 45}}"#,
        ),
        parse::<ProductOfferingPrice>(
            r#"{"id": "pop-2", "priceType": "oneTime", "price": {"unit": "EUR", "value": 0}}"#,
        ),
    ]
    .into_iter()
    .map(|p| (p.id.clone(), p))
    .collect();
    let r = o.to_record(&prices).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        (r.family, r.kind, r.requires_installation, r.commitment_months),
        (ProductFamily::Fibre, OfferingKind::Plan, true, 12)
    );
    assert_eq!((r.recurring_price, r.one_time_price), (eur(4500), Some(eur(0))));
    assert_eq!(o.related(REL_EXCHANGEABLE_TO).collect::<Vec<_>>(), vec!["fibre-600"]);
    assert!(o.to_record(&std::collections::HashMap::new()).is_err());
    // A `Quantity.amount` is a float in the specification: `12.0` months is 12.
    let t: ProductOffering = parse(
        r#"{"id": "t", "productOfferingTerm": [{"duration": {"amount": 12.0, "units": "month"}}], "productOfferingPrice": [{"id": "pop-1"}]}"#,
    );
    let t = t.to_record(&prices).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((t.commitment_months, t.name.as_str()), (12, "t"));
    let half: ProductOffering = parse(
        r#"{"id": "h", "productOfferingTerm": [{"duration": {"amount": 1.5, "units": "year"}}], "productOfferingPrice": [{"id": "pop-1"}]}"#,
    );
    assert!(matches!(half.to_record(&prices), Err(BssError::Malformed(_))));
}

#[test]
fn changes_are_exchanges_and_optional_add_ons() {
    let catalogue: Vec<ProductOffering> = parse(
        r#"[{"id": "mobile-basic", "name": "10 GB", "category": [{"id": "c1", "name": "mobile"}],
             "productOfferingRelationship": [{"id": "mobile-unlimited", "relationshipType": "exchangableTo"}, {"id": "gone", "relationshipType": "exchangableTo"}]},
            {"id": "mobile-unlimited", "name": "Unlimited", "category": [{"id": "c1", "name": "mobile"}]},
            {"id": "roaming", "name": "Roaming", "category": [{"id": "c1", "name": "mobile"}, {"id": "c2", "name": "addOn"}],
             "productOfferingRelationship": [{"id": "mobile-basic", "relationshipType": "optionalFor"}]},
            {"id": "tv-cine", "name": "Cine", "category": [{"id": "c3", "name": "tv"}, {"id": "c2", "name": "addOn"}],
             "productOfferingRelationship": [{"id": "tv-basic", "relationshipType": "optionalFor"}]}]"#,
    );
    let found: Vec<(Option<ChangeKind>, &str)> =
        catalogue[0].changes(&catalogue).into_iter().map(|(k, o)| (k, o.id.as_str())).collect();
    assert_eq!(found, vec![(None, "mobile-unlimited"), (Some(ChangeKind::AddOn), "roaming")]);
}

#[test]
fn qualification_result() {
    let q: ProductOfferingQualification = parse(
        r#"{"id": "Q1", "state": "done", "qualificationResult": "green",
            "productOfferingQualificationItem": [{"id": "1", "state": "done", "qualificationItemResult": "qualified", "productOffering": {"id": "fibre-1g"},
              "product": {"productCharacteristic": [{"name": "installationDate", "value": ["2026-12-04", "2026-12-02"]}]}}]}"#,
    );
    let offering = OfferingRef::parse("fibre-1g").unwrap_or_else(|e| unreachable!("{e}"));
    let e = q.into_record(offering.clone()).unwrap_or_else(|e| unreachable!("{e}"));
    assert!(e.eligible);
    assert_eq!(e.installation_dates, vec![day("2026-12-02"), day("2026-12-04")]);
    let q: ProductOfferingQualification = parse(
        r#"{"state": "done", "productOfferingQualificationItem": [{"id": "1", "qualificationItemResult": "unqualified",
            "eligibilityUnavailabilityReason": [{"code": "NO_COVERAGE", "label": "No fibre coverage at 28013"}]}]}"#,
    );
    let e = q.into_record(offering.clone()).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((e.eligible, e.reason.as_deref()), (false, Some("No fibre coverage at 28013")));
    let result = |json: &str| parse::<ProductOfferingQualification>(json).into_record(offering.clone());
    // `alternate`: not the offering asked for.
    assert_eq!(
        result(r#"{"state": "done", "productOfferingQualificationItem": [{"id": "1", "qualificationItemResult": "alternate"}]}"#)
            .map(|e| e.eligible),
        Ok(false)
    );
    // Without an item result, the whole answer's colour.
    assert_eq!(
        result(
            r#"{"state": "done", "qualificationResult": "green", "productOfferingQualificationItem": [{"id": "1"}]}"#
        )
        .map(|e| e.eligible),
        Ok(true)
    );
    assert_eq!(
        result(
            r#"{"state": "done", "qualificationResult": "yellow", "productOfferingQualificationItem": [{"id": "1"}]}"#
        )
        .map(|e| e.eligible),
        Ok(false)
    );
    // The colours belong to the whole answer, not to an item.
    assert!(matches!(
        result(
            r#"{"state": "done", "productOfferingQualificationItem": [{"id": "1", "qualificationItemResult": "green"}]}"#
        ),
        Err(BssError::Malformed(_))
    ));
    // `TaskStateType`: acknowledged, inProgress (not yet), terminatedWithError, done.
    assert!(matches!(result(r#"{"state": "inProgress"}"#), Err(BssError::Unavailable(_))));
    assert!(matches!(result(r#"{"state": "terminatedWithError"}"#), Err(BssError::Rejected { .. })));
    assert!(matches!(result(r#"{"state": "finished"}"#), Err(BssError::Malformed(_))));
}

#[test]
fn orders_and_their_items() {
    let o: ProductOrder = parse(
        r#"{"id": "PO-77", "state": "inProgress", "externalId": "hub-ord-1", "orderDate": "2026-11-29T10:15:00Z", "@type": "ProductOrder",
            "productOrderItem": [
              {"id": "1", "action": "delete", "product": {"id": "PRD-3002", "terminationDate": "2026-12-31", "productCharacteristic": [{"name": "terminationReason", "value": "moving_abroad"}]}},
              {"id": "2", "action": "add", "productOffering": {"id": "tv-cine"}, "product": {"startDate": "2026-12-01T00:00:00Z", "productRelationship": [{"relationshipType": "addOnOf", "product": {"id": "PRD-3001"}}]}},
              {"id": "3", "action": "noChange", "product": {"id": "PRD-3003"}}
            ]}"#,
    );
    let o = o.into_record().unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((o.state, o.external_id.as_deref()), (OrderState::InProgress, Some("hub-ord-1")));
    assert_eq!(o.items[0].action, OrderAction::Delete);
    assert_eq!(o.items[0].reason.as_deref(), Some("moving_abroad"));
    assert_eq!(o.items[0].requested_date, Some(day("2026-12-31")));
    assert_eq!(o.items[1].product.as_ref().map(ProductRef::as_str), Some("PRD-3001"));
    assert_eq!(o.items[1].offering.as_ref().map(OfferingRef::as_str), Some("tv-cine"));
    assert_eq!((o.items.len(), o.items[1].requested_date), (2, Some(day("2026-12-01"))), "noChange is not a change");
    let bad: ProductOrder = parse(r#"{"id": "PO-1", "state": "exploded", "orderDate": "2026-11-29T10:15:00Z"}"#);
    assert!(matches!(bad.into_record(), Err(BssError::Malformed(_))));
}

#[test]
fn service_test_verdicts() {
    let t: WireServiceTest = parse(
        r#"{"id": "ST-1", "state": "completed", "endDateTime": "2026-11-29T10:20:00Z",
            "testMeasure": [
              {"metricName": "syncRateDownMbps", "unitOfMeasure": "Mbps", "value": {"name": "syncRateDownMbps", "value": 12}, "ruleViolation": [{"description": "below 100"}]},
              {"metricName": "onuStatus", "value": {"name": "onuStatus", "value": "online"}}
            ]}"#,
    );
    let product = ProductRef::parse("PRD-3001").unwrap_or_else(|e| unreachable!("{e}"));
    let t = t.into_record(product).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(t.verdict, TestVerdict::Fail);
    assert_eq!((t.measures[0].ok, t.measures[0].value.as_str(), t.measures[1].ok), (false, "12", true));
}

#[test]
fn usage_quantities() {
    let u: WireUsage = parse(
        r#"{"id": "U1", "usageType": "data", "usageCharacteristic": [{"name": "quantity", "value": 512}, {"name": "unit", "value": "MB"}]}"#,
    );
    assert_eq!(u.quantity(), Ok(Some((UsageKind::Data, 512))));
    let u: WireUsage = parse(r#"{"usageType": "voice", "usageCharacteristic": [{"name": "quantity", "value": -3}]}"#);
    assert!(u.quantity().is_err());
    let u: WireUsage = parse(r#"{"usageType": "roamingFee"}"#);
    assert_eq!(u.quantity(), Ok(None));
}

#[test]
fn tmf_error_text() {
    let e: TmfError =
        parse(r#"{"code": "INV-17", "reason": "Bill closed", "message": "bill BILL-1 is settled", "status": "422"}"#);
    assert_eq!((e.code(), e.text()), ("INV-17".to_owned(), "Bill closed: bill BILL-1 is settled".to_owned()));
    let e: TmfError = parse(r#"{"code": 60, "reason": "x"}"#);
    assert_eq!(e.code(), "60");
}

#[test]
fn dates_and_times() {
    assert_eq!(date_of("2026-11-29"), Ok(day("2026-11-29")));
    assert_eq!(date_of("2026-11-29T23:00:00+01:00"), Ok(day("2026-11-29")));
    for bad in ["2026-11-29X", "29/11/2026", "", "2026-11-2"] {
        assert!(date_of(bad).is_err(), "{bad}");
    }
}

#[test]
fn product_status_and_relationships_by_value() {
    // v4.0.0's `ProductStatusType` writes `"aborted "` (with a space); a relationship may carry
    // its product by value, without an id, unless it is the add-on link the hub reads.
    let p: WireProduct = parse(
        r#"{"id": "P1", "status": "aborted ", "productOffering": {"id": "o"}, "billingAccount": {"id": "a"},
            "productRelationship": [{"relationshipType": "bundled", "product": {"name": "router", "isBundle": false}}]}"#,
    );
    let p = p.into_record().unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((p.status, p.parent), (ProductStatus::Terminated, None));
    let p: WireProduct = parse(
        r#"{"id": "P1", "productOffering": {"id": "o"}, "billingAccount": {"id": "a"},
            "productRelationship": [{"relationshipType": "addOnOf", "product": {"name": "no id"}}]}"#,
    );
    assert!(matches!(p.into_record(), Err(BssError::Malformed(_))));
}

#[test]
fn usage_status_values() {
    let with = |status: &str| {
        parse::<WireUsage>(&format!(
            r#"{{"usageType": "data", "status": "{status}", "usageCharacteristic": [{{"name": "quantity", "valueType": "number", "value": 100.0}}]}}"#
        ))
        .quantity()
    };
    for counted in ["received", "recycled", "guided", "rated", "rerated", "billed"] {
        assert_eq!(with(counted), Ok(Some((UsageKind::Data, 100))), "{counted}");
    }
    assert_eq!(with("rejected"), Ok(None), "a rejected record is not usage");
    assert!(matches!(with("deleted"), Err(BssError::Malformed(_))));
}

#[test]
fn service_test_measures_without_a_metric_name() {
    let t: WireServiceTest = parse(
        r#"{"id": "ST-2", "state": "completed", "mode": "ONDEMAND", "endDateTime": "1985-04-12T23:20:50.52Z",
            "testMeasure": [{"metricDescription": "optical power", "value": {"name": "rxPowerDbm", "value": -21.5},
              "ruleViolation": [{"@type": "MeasureThresholdRuleViolation", "conformanceComparatorLower": "<", "conformanceTargetLower": "-27"}]}]}"#,
    );
    let product = ProductRef::parse("PRD-1").unwrap_or_else(|e| unreachable!("{e}"));
    let t = t.into_record(product).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((t.measures[0].name.as_str(), t.measures[0].value.as_str()), ("optical power", "-21.5"));
    assert_eq!(t.verdict, TestVerdict::Fail);
    assert_eq!(t.finished_at.date(), day("1985-04-12"), "a fractional-second date-time");
}

#[test]
fn payment_plans_as_tmf666_v4_writes_them() {
    let a: WireBillingAccount = parse(
        r#"{"id": "ACC-1", "name": "A", "relatedParty": [{"id": "C1", "name": "A", "@referredType": "Customer"}],
            "paymentPlan": [{"planType": "promiseToPay", "status": "ineffective", "numberOfPayments": 1, "priority": 1,
              "totalAmount": {"unit": "EUR", "value": 60}, "validFor": {"startDateTime": "2026-11-01T00:00:00Z", "endDateTime": "2026-12-01T23:59:59Z"}}]}"#,
    );
    assert_eq!(a.payment_plan[0].status.as_deref(), Some(PLAN_INEFFECTIVE));
    assert_eq!(a.payment_plan[0].total_amount.as_ref().map(WireMoney::money), Some(Ok(eur(6000))));
}
