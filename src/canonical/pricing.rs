//! The embedded shop's arithmetic: line and order totals derived from prices, quantities and the adjustments the
//! order carries. A shop, not a translator, owns its totals, so whatever totals a client stated on create are
//! replaced by these (the translators keep stated totals verbatim; see `Order::accounting_gaps`).

use super::money::{saturating_sum, sum_minor, Money};
use super::order::Order;

impl Order {
    /// Recomputes every line's subtotal and total and the order totals from the lines, shipping, fees, discounts
    /// and taxes. Line-level discounts and taxes are kept as given; order-level discounts are the sum of the
    /// order's discounts when it lists any, else the sum of the line discounts.
    pub fn recompute_totals(&mut self) {
        let currency = self.currency;
        let tax_included = self.tax_included;
        for line in &mut self.line_items {
            let subtotal = line
                .unit_price
                .minor
                .saturating_mul(i64::from(line.quantity));
            line.subtotal = Money::new(subtotal, currency);
            let tax = if tax_included {
                0
            } else {
                line.tax_total.minor
            };
            line.total = Money::new(
                saturating_sum(&[subtotal, -line.discount_total.minor, tax]),
                currency,
            );
        }
        let t = &mut self.totals;
        t.subtotal = Money::new(
            sum_minor(self.line_items.iter().map(|l| &l.subtotal)),
            currency,
        );
        t.discount_total = Money::new(
            if self.discounts.is_empty() {
                sum_minor(self.line_items.iter().map(|l| &l.discount_total))
            } else {
                sum_minor(self.discounts.iter().map(|d| &d.amount))
            },
            currency,
        );
        t.shipping_total = Money::new(
            sum_minor(self.shipping_lines.iter().map(|s| &s.amount)),
            currency,
        );
        t.shipping_tax = Money::new(
            sum_minor(self.shipping_lines.iter().map(|s| &s.tax)),
            currency,
        );
        t.fee_total = Money::new(sum_minor(self.fees.iter().map(|f| &f.amount)), currency);
        t.tax_total = Money::new(
            saturating_sum(&[
                sum_minor(self.line_items.iter().map(|l| &l.tax_total)),
                t.shipping_tax.minor,
                sum_minor(self.fees.iter().map(|f| &f.tax)),
            ]),
            currency,
        );
        t.total = Money::new(t.derived_total(tax_included), currency);
    }
}

#[cfg(test)]
mod tests {
    use crate::canonical::*;

    #[test]
    fn totals_follow_the_lines_and_satisfy_the_accounting_identity() {
        let usd = Currency::parse("USD").unwrap();
        let m = |minor| Money::new(minor, usd);
        let mut order = Order::empty(usd);
        order.line_items.push(LineItem {
            ids: Default::default(),
            kind: LineKind::Custom,
            product: Default::default(),
            name: "Mug".into(),
            quantity: 3,
            unit_price: m(1250),
            subtotal: m(0),
            discount_total: m(100),
            tax_total: m(300),
            total: m(0),
            tax_rate: None,
            fulfillment_type: None,
            quantity_shipped: 0,
            refunded_total: m(0),
            destination: None,
            image_url: None,
            metadata: Default::default(),
            ext: Default::default(),
        });
        order.recompute_totals();
        assert_eq!(order.line_items[0].subtotal, m(3750));
        assert_eq!(order.line_items[0].total, m(3950));
        assert_eq!(order.totals.total, m(3950));
        assert!(order.accounting_gaps().is_empty());
        assert!(order.totals_problem().is_none());

        // A discount beyond the order: its total would be below zero, which is refused.
        order.discounts.push(Discount {
            ids: Default::default(),
            kind: DiscountKind::Manual,
            code: None,
            label: None,
            amount: m(5000),
            ext: Default::default(),
        });
        order.recompute_totals();
        assert_eq!(order.totals.total, m(-950));
        let problem = order.totals_problem().unwrap();
        assert_eq!(problem.kind, ProblemKind::InvalidMoney);
        assert!(problem.reason.contains("-9.50 USD"), "{}", problem.reason);

        // A line discount beyond its line: the line's total would be below zero, even where the order's is not.
        order.discounts.clear();
        order.line_items[0].discount_total = m(5000);
        order.shipping_lines.push(ShippingLine {
            ids: Default::default(),
            method: None,
            amount: m(9000),
            tax: m(0),
            destination: None,
            ext: Default::default(),
        });
        order.recompute_totals();
        assert!(order.totals.total.minor >= 0);
        let problem = order.totals_problem().unwrap();
        assert!(problem.reason.contains("line 1"), "{}", problem.reason);
        assert!(problem.reason.contains("-9.50 USD"), "{}", problem.reason);
    }
}
