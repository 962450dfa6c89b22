//! What the bot says in self-service, in English, Spanish and Portuguese: templates filled with
//! the billing system's figures (no generated text). Plain text, so every channel shows it as is;
//! choices are numbered for channels without buttons.

use bss::{
    BillItemKind, BillingAccount, ChangeKind, ContactKind, Money, PaymentKind, Product, Usage, UsageKind, UsageMeter,
};
use schema::Language::{self, En, Es, Pt};
use time::Date;

/// An amount as a customer reads it: `42.50 EUR`, `42,50 EUR` in Spanish and Portuguese.
pub fn money(language: Language, m: &Money) -> String {
    let text = m.to_string();
    match language {
        En => text,
        Es | Pt => text.replacen('.', ",", 1),
    }
}

/// A date as `2026-12-05` (unambiguous in every language and on every channel).
pub fn date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub fn ask_account(language: Language) -> &'static str {
    match language {
        En => {
            "I can help with that once I've checked it's you. What is your account number, or the phone number or e-mail address on the account?"
        }
        Es => {
            "Puedo ayudarte en cuanto compruebe que eres tú. ¿Cuál es tu número de cuenta, o el teléfono o el correo electrónico de la cuenta?"
        }
        Pt => {
            "Posso ajudar assim que confirmar que é você. Qual é o número da sua conta, ou o telefone ou o e-mail associado à conta?"
        }
    }
}

pub fn account_not_found(language: Language) -> &'static str {
    match language {
        En => {
            "I couldn't find an account with that. Please check the account number, phone number or e-mail address and send it again, or type \"agent\" to talk to a person."
        }
        Es => {
            "No he encontrado ninguna cuenta con ese dato. Revisa el número de cuenta, el teléfono o el correo y envíalo de nuevo, o escribe \"agente\" para hablar con una persona."
        }
        Pt => {
            "Não encontrei nenhuma conta com esse dado. Verifique o número de conta, o telefone ou o e-mail e envie de novo, ou escreva \"atendente\" para falar com uma pessoa."
        }
    }
}

fn kind_word(language: Language, kind: ContactKind) -> &'static str {
    match (language, kind) {
        (En, ContactKind::Email) => "e-mail",
        (Es, ContactKind::Email) => "correo",
        (Pt, ContactKind::Email) => "e-mail",
        (_, ContactKind::Phone) => "SMS",
    }
}

/// The contacts a code can go to, numbered.
pub fn choose_contact(language: Language, contacts: &[(ContactKind, String)]) -> String {
    let intro = match language {
        En => "To protect your account I need to check it's you. Where should I send a one-time code?",
        Es => "Para proteger tu cuenta necesito comprobar que eres tú. ¿Adónde te envío un código de un solo uso?",
        Pt => {
            "Para proteger a sua conta preciso de confirmar que é você. Para onde envio um código de utilização única?"
        }
    };
    let outro = match language {
        En => "Reply with the number.",
        Es => "Responde con el número.",
        Pt => "Responda com o número.",
    };
    let list: Vec<String> = contacts
        .iter()
        .enumerate()
        .map(|(i, (kind, masked))| format!("{}. {masked} ({})", i + 1, kind_word(language, *kind)))
        .collect();
    format!("{intro}\n{}\n{outro}", list.join("\n"))
}

pub fn no_contact(language: Language) -> &'static str {
    match language {
        En => "I can't send you a code to check it's you from here, so I'll pass you to a person.",
        Es => "Desde aquí no puedo enviarte un código para comprobar que eres tú, así que te paso con una persona.",
        Pt => "Daqui não consigo enviar-lhe um código para confirmar que é você, por isso vou passá-lo a uma pessoa.",
    }
}

pub fn code_sent(language: Language, masked: &str, minutes: u32) -> String {
    match language {
        En => format!(
            "I've sent a 6-digit code to {masked}. Type it here when it arrives; it is valid for {minutes} minutes. (Say \"resend\" for a new one.)"
        ),
        Es => format!(
            "He enviado un código de 6 cifras a {masked}. Escríbelo aquí cuando te llegue; es válido durante {minutes} minutos. (Di \"reenviar\" para recibir otro.)"
        ),
        Pt => format!(
            "Enviei um código de 6 dígitos para {masked}. Escreva-o aqui quando chegar; é válido durante {minutes} minutos. (Diga \"reenviar\" para receber outro.)"
        ),
    }
}

/// The code's message itself (e-mail body or SMS): the only place the code is written.
pub fn code_message(language: Language, code: &str, minutes: u32) -> (String, String) {
    match language {
        En => (
            "Your verification code".to_owned(),
            format!(
                "Your verification code is {code}. It is valid for {minutes} minutes. Type it in your conversation with us. If you did not ask for it, ignore this message and do not share the code with anyone."
            ),
        ),
        Es => (
            "Tu código de verificación".to_owned(),
            format!(
                "Tu código de verificación es {code}. Es válido durante {minutes} minutos. Escríbelo en tu conversación con nosotros. Si no lo has pedido, ignora este mensaje y no compartas el código con nadie."
            ),
        ),
        Pt => (
            "O seu código de verificação".to_owned(),
            format!(
                "O seu código de verificação é {code}. É válido durante {minutes} minutos. Escreva-o na sua conversa connosco. Se não o pediu, ignore esta mensagem e não partilhe o código com ninguém."
            ),
        ),
    }
}

pub fn send_failed(language: Language) -> &'static str {
    match language {
        En => "I couldn't send the code just now. Please try again in a moment, or type \"agent\" to talk to a person.",
        Es => {
            "No he podido enviar el código ahora mismo. Inténtalo de nuevo en un momento, o escribe \"agente\" para hablar con una persona."
        }
        Pt => {
            "Não consegui enviar o código agora. Tente de novo dentro de momentos, ou escreva \"atendente\" para falar com uma pessoa."
        }
    }
}

pub fn too_many_sends(language: Language) -> &'static str {
    match language {
        En => "I've sent too many codes for now. Please try again later, or type \"agent\" to talk to a person.",
        Es => {
            "He enviado demasiados códigos por ahora. Inténtalo más tarde, o escribe \"agente\" para hablar con una persona."
        }
        Pt => {
            "Já enviei demasiados códigos por agora. Tente mais tarde, ou escreva \"atendente\" para falar com uma pessoa."
        }
    }
}

pub fn type_the_code(language: Language, masked: &str) -> String {
    match language {
        En => format!("Please type the 6-digit code I sent to {masked}, or say \"resend\" for a new one."),
        Es => format!("Escribe el código de 6 cifras que envié a {masked}, o di \"reenviar\" para recibir otro."),
        Pt => {
            format!("Escreva o código de 6 dígitos que enviei para {masked}, ou diga \"reenviar\" para receber outro.")
        }
    }
}

pub fn wrong_code(language: Language, left: u32) -> String {
    match language {
        En => format!("That code isn't right. You have {left} more {}.", if left == 1 { "try" } else { "tries" }),
        Es => {
            format!("Ese código no es correcto. Te quedan {left} {}.", if left == 1 { "intento" } else { "intentos" })
        }
        Pt => format!(
            "Esse código não está correto. Tem mais {left} {}.",
            if left == 1 { "tentativa" } else { "tentativas" }
        ),
    }
}

pub fn expired(language: Language) -> &'static str {
    match language {
        En => "That code has expired.",
        Es => "Ese código ha caducado.",
        Pt => "Esse código expirou.",
    }
}

pub fn locked(language: Language) -> &'static str {
    match language {
        En => {
            "Too many wrong codes: I can't check it's you here for a while. A person can help you: type \"agent\" and I'll pass you on."
        }
        Es => {
            "Demasiados códigos incorrectos: durante un tiempo no puedo comprobar aquí que eres tú. Una persona puede ayudarte: escribe \"agente\" y te paso."
        }
        Pt => {
            "Demasiados códigos errados: durante algum tempo não posso confirmar aqui que é você. Uma pessoa pode ajudar: escreva \"atendente\" e passo-o."
        }
    }
}

pub fn verified(language: Language) -> &'static str {
    match language {
        En => "Thank you, that's you. ",
        Es => "Gracias, todo correcto. ",
        Pt => "Obrigado, está confirmado. ",
    }
}

pub fn unavailable(language: Language) -> &'static str {
    match language {
        En => "I can't reach our billing system right now. Please try again in a few minutes.",
        Es => "Ahora mismo no puedo consultar el sistema de facturación. Inténtalo de nuevo en unos minutos.",
        Pt => "Neste momento não consigo consultar o sistema de faturação. Tente de novo dentro de alguns minutos.",
    }
}

pub fn nothing_found(language: Language) -> &'static str {
    match language {
        En => "I couldn't find anything on your account for that. Type \"agent\" if you'd like a person to look.",
        Es => "No he encontrado nada en tu cuenta sobre eso. Escribe \"agente\" si quieres que lo mire una persona.",
        Pt => "Não encontrei nada na sua conta sobre isso. Escreva \"atendente\" se quiser que uma pessoa veja.",
    }
}

/// Balance and due date of each account.
pub fn balance(language: Language, accounts: &[BillingAccount]) -> String {
    let mut lines = Vec::new();
    for a in accounts {
        let amount = money(language, &a.balance);
        let mut line = match (language, a.kind, a.due_date) {
            (En, PaymentKind::Prepaid, _) => {
                let credit = Money::new(-a.balance.minor, a.balance.currency);
                format!("Account {}: prepaid credit of {}.", a.id, money(language, &credit))
            }
            (Es, PaymentKind::Prepaid, _) => {
                let credit = Money::new(-a.balance.minor, a.balance.currency);
                format!("Cuenta {}: saldo de prepago de {}.", a.id, money(language, &credit))
            }
            (Pt, PaymentKind::Prepaid, _) => {
                let credit = Money::new(-a.balance.minor, a.balance.currency);
                format!("Conta {}: saldo pré-pago de {}.", a.id, money(language, &credit))
            }
            (En, _, Some(due)) => format!("Account {}: your balance is {amount}, due on {}.", a.id, date(due)),
            (Es, _, Some(due)) => {
                format!("Cuenta {}: tu saldo pendiente es {amount}, con vencimiento el {}.", a.id, date(due))
            }
            (Pt, _, Some(due)) => format!("Conta {}: o seu saldo é {amount}, com vencimento a {}.", a.id, date(due)),
            (En, _, None) => format!("Account {}: your balance is {amount}; nothing is due now.", a.id),
            (Es, _, None) => format!("Cuenta {}: tu saldo es {amount}; no hay nada pendiente de vencimiento.", a.id),
            (Pt, _, None) => format!("Conta {}: o seu saldo é {amount}; não há nada a vencer.", a.id),
        };
        if a.overdue.minor > 0 {
            let overdue = money(language, &a.overdue);
            line.push_str(&match language {
                En => format!(" Of that, {overdue} is overdue."),
                Es => format!(" De eso, {overdue} está vencido."),
                Pt => format!(" Desse valor, {overdue} está em atraso."),
            });
        }
        lines.push(line);
    }
    lines.join("\n")
}

fn unit(language: Language, kind: UsageKind) -> (&'static str, &'static str) {
    match (language, kind) {
        (En, UsageKind::Data) => ("Data", "MB"),
        (Es, UsageKind::Data) => ("Datos", "MB"),
        (Pt, UsageKind::Data) => ("Dados", "MB"),
        (En, UsageKind::Voice) => ("Calls", "min"),
        (Es, UsageKind::Voice) => ("Llamadas", "min"),
        (Pt, UsageKind::Voice) => ("Chamadas", "min"),
        (En, UsageKind::Sms) => ("Messages", "SMS"),
        (Es, UsageKind::Sms) => ("Mensajes", "SMS"),
        (Pt, UsageKind::Sms) => ("Mensagens", "SMS"),
    }
}

fn meter(language: Language, m: &UsageMeter) -> String {
    let (name, unit) = unit(language, m.kind);
    match (language, m.allowance) {
        (En, Some(a)) => format!("{name}: {} of {a} {unit} used ({} left)", m.used, a.saturating_sub(m.used)),
        (Es, Some(a)) => format!("{name}: {} de {a} {unit} usados (quedan {})", m.used, a.saturating_sub(m.used)),
        (Pt, Some(a)) => format!("{name}: {} de {a} {unit} usados (restam {})", m.used, a.saturating_sub(m.used)),
        (En, None) => format!("{name}: {} {unit} used (unlimited)", m.used),
        (Es, None) => format!("{name}: {} {unit} usados (ilimitado)", m.used),
        (Pt, None) => format!("{name}: {} {unit} usados (ilimitado)", m.used),
    }
}

/// This period's usage of each product.
pub fn usage(language: Language, usages: &[(Product, Usage)]) -> String {
    let mut out = Vec::new();
    for (p, u) in usages {
        let head = match language {
            En => format!("{} ({} to {}):", p.name, date(u.period_start), date(u.period_end)),
            Es => format!("{} (del {} al {}):", p.name, date(u.period_start), date(u.period_end)),
            Pt => format!("{} (de {} a {}):", p.name, date(u.period_start), date(u.period_end)),
        };
        let mut block = vec![head];
        block.extend(u.meters.iter().map(|m| format!("- {}", meter(language, m))));
        out.push(block.join("\n"));
    }
    out.join("\n\n")
}

fn item_kind(language: Language, kind: BillItemKind) -> &'static str {
    match (language, kind) {
        (En, BillItemKind::Recurring) => "the monthly fee of your plan",
        (Es, BillItemKind::Recurring) => "la cuota mensual de tu tarifa",
        (Pt, BillItemKind::Recurring) => "a mensalidade do seu tarifário",
        (En, BillItemKind::Usage) => "usage beyond your allowance (calls, data, messages or roaming)",
        (Es, BillItemKind::Usage) => "consumo fuera de tu bono (llamadas, datos, mensajes o roaming)",
        (Pt, BillItemKind::Usage) => "consumo além do seu plafond (chamadas, dados, mensagens ou roaming)",
        (En, BillItemKind::OneTime) => "a one-time charge",
        (Es, BillItemKind::OneTime) => "un cargo puntual",
        (Pt, BillItemKind::OneTime) => "uma cobrança única",
        (En, BillItemKind::Discount) => "a discount",
        (Es, BillItemKind::Discount) => "un descuento",
        (Pt, BillItemKind::Discount) => "um desconto",
        (En, BillItemKind::Adjustment) => "a correction made to your bill",
        (Es, BillItemKind::Adjustment) => "una corrección hecha en tu factura",
        (Pt, BillItemKind::Adjustment) => "uma correção feita na sua fatura",
        (En, BillItemKind::Tax) => "taxes",
        (Es, BillItemKind::Tax) => "impuestos",
        (Pt, BillItemKind::Tax) => "impostos",
    }
}

/// The last bill, line by line.
pub fn bill(language: Language, bill: &bss::Bill) -> String {
    let head = match language {
        En => format!(
            "Your last bill, {}, for {} to {}: {} in total, due on {}.",
            bill.number,
            date(bill.period_start),
            date(bill.period_end),
            money(language, &bill.total),
            date(bill.due)
        ),
        Es => format!(
            "Tu última factura, {}, del {} al {}: {} en total, con vencimiento el {}.",
            bill.number,
            date(bill.period_start),
            date(bill.period_end),
            money(language, &bill.total),
            date(bill.due)
        ),
        Pt => format!(
            "A sua última fatura, {}, de {} a {}: {} no total, com vencimento a {}.",
            bill.number,
            date(bill.period_start),
            date(bill.period_end),
            money(language, &bill.total),
            date(bill.due)
        ),
    };
    let mut lines = vec![head];
    for item in &bill.items {
        lines.push(format!(
            "- {}: {} ({})",
            item.description,
            money(language, &item.amount),
            item_kind(language, item.kind)
        ));
    }
    if bill.unpaid.minor > 0 {
        let unpaid = money(language, &bill.unpaid);
        lines.push(match language {
            En => format!("Still to pay: {unpaid}."),
            Es => format!("Pendiente de pago: {unpaid}."),
            Pt => format!("Por pagar: {unpaid}."),
        });
    }
    lines.join("\n")
}

fn change_word(language: Language, kind: ChangeKind) -> &'static str {
    match (language, kind) {
        (En, ChangeKind::Upgrade) => "upgrade",
        (Es, ChangeKind::Upgrade) => "mejora",
        (Pt, ChangeKind::Upgrade) => "upgrade",
        (En, ChangeKind::Downgrade) => "downgrade",
        (Es, ChangeKind::Downgrade) => "reducción",
        (Pt, ChangeKind::Downgrade) => "downgrade",
        (En, _) => "add-on",
        (Es, _) => "extra",
        (Pt, _) => "extra",
    }
}

/// A plan the customer can move to (one line of a list).
#[derive(Debug)]
pub struct PlanLine<'a> {
    pub product: &'a str,
    pub offering: &'a str,
    pub kind: ChangeKind,
    pub difference: &'a Money,
    pub effective: Date,
}

fn signed(language: Language, m: &Money) -> String {
    if m.minor >= 0 { format!("+{}", money(language, m)) } else { money(language, m) }
}

pub fn plan_options(language: Language, options: &[PlanLine<'_>]) -> String {
    let intro = match language {
        En => "These are the plans you can move to:",
        Es => "Estas son las tarifas a las que puedes cambiar:",
        Pt => "Estes são os tarifários para os quais pode mudar:",
    };
    let outro = match language {
        En => "Reply with the number of the one you want, or \"no\" to keep your plan.",
        Es => "Responde con el número de la que quieras, o \"no\" para quedarte con tu tarifa.",
        Pt => "Responda com o número do que quer, ou \"não\" para manter o seu tarifário.",
    };
    let per_month = match language {
        En => "a month",
        Es => "al mes",
        Pt => "por mês",
    };
    let list: Vec<String> = options
        .iter()
        .enumerate()
        .map(|(i, o)| {
            format!(
                "{}. {} → {} ({}, {} {per_month}, {})",
                i + 1,
                o.product,
                o.offering,
                change_word(language, o.kind),
                signed(language, o.difference),
                date(o.effective)
            )
        })
        .collect();
    format!("{intro}\n{}\n{outro}", list.join("\n"))
}

pub fn no_plan_options(language: Language) -> &'static str {
    match language {
        En => {
            "There are no plan changes available for your services right now. Type \"agent\" if you'd like to talk to a person."
        }
        Es => {
            "Ahora mismo no hay cambios de tarifa disponibles para tus servicios. Escribe \"agente\" si quieres hablar con una persona."
        }
        Pt => {
            "Neste momento não há mudanças de tarifário disponíveis para os seus serviços. Escreva \"atendente\" se quiser falar com uma pessoa."
        }
    }
}

pub fn confirm_plan(language: Language, o: &PlanLine<'_>) -> String {
    let diff = signed(language, o.difference);
    let when = date(o.effective);
    match language {
        En => format!(
            "To confirm: move {} to {} ({diff} a month) from {when}. Reply \"yes\" to place the order, or \"no\" to keep your plan.",
            o.product, o.offering
        ),
        Es => format!(
            "Para confirmar: cambiar {} a {} ({diff} al mes) a partir del {when}. Responde \"sí\" para hacer el pedido, o \"no\" para quedarte con tu tarifa.",
            o.product, o.offering
        ),
        Pt => format!(
            "Para confirmar: mudar {} para {} ({diff} por mês) a partir de {when}. Responda \"sim\" para fazer o pedido, ou \"não\" para manter o seu tarifário.",
            o.product, o.offering
        ),
    }
}

pub fn plan_ordered(language: Language, order: &str, effective: Date) -> String {
    let when = date(effective);
    match language {
        En => format!("Done: your plan change is ordered (order {order}) and takes effect on {when}."),
        Es => format!("Hecho: tu cambio de tarifa está pedido (pedido {order}) y se aplica a partir del {when}."),
        Pt => format!("Feito: a mudança de tarifário foi pedida (pedido {order}) e aplica-se a partir de {when}."),
    }
}

pub fn cancelled(language: Language) -> &'static str {
    match language {
        En => "All right, I haven't changed anything.",
        Es => "De acuerdo, no he cambiado nada.",
        Pt => "Muito bem, não alterei nada.",
    }
}

pub fn pick_a_number(language: Language, count: usize) -> String {
    match language {
        En => format!("Please reply with a number from 1 to {count}, or \"no\"."),
        Es => format!("Responde con un número del 1 al {count}, o \"no\"."),
        Pt => format!("Responda com um número de 1 a {count}, ou \"não\"."),
    }
}

pub fn nothing_to_arrange(language: Language) -> &'static str {
    match language {
        En => "There's nothing to pay on your account right now, so no arrangement is needed.",
        Es => "Ahora mismo no tienes nada pendiente de pago, así que no hace falta ningún acuerdo.",
        Pt => "Neste momento não tem nada por pagar, por isso não é preciso nenhum acordo.",
    }
}

pub fn confirm_arrangement(language: Language, account: &str, amount: &Money, pay_by: Date) -> String {
    let amount = money(language, amount);
    let when = date(pay_by);
    match language {
        En => format!(
            "I can arrange for you to pay {amount} on account {account} by {when}. Reply \"yes\" to agree, or \"no\" to leave it."
        ),
        Es => format!(
            "Puedo acordar que pagues {amount} de la cuenta {account} como tarde el {when}. Responde \"sí\" para aceptarlo, o \"no\" para dejarlo."
        ),
        Pt => format!(
            "Posso combinar que pague {amount} da conta {account} até {when}. Responda \"sim\" para aceitar, ou \"não\" para deixar."
        ),
    }
}

pub fn arranged(language: Language, amount: &Money, pay_by: Date) -> String {
    let amount = money(language, amount);
    let when = date(pay_by);
    match language {
        En => format!("Done: you have until {when} to pay {amount}. We won't chase the payment before then."),
        Es => {
            format!("Hecho: tienes hasta el {when} para pagar {amount}. No te reclamaremos el pago antes de esa fecha.")
        }
        Pt => format!("Feito: tem até {when} para pagar {amount}. Não lhe pediremos o pagamento antes dessa data."),
    }
}

pub fn could_not_place(language: Language) -> &'static str {
    match language {
        En => {
            "The billing system did not accept that just now, so nothing has changed. Type \"agent\" if you'd like a person to help."
        }
        Es => {
            "El sistema de facturación no lo ha aceptado, así que no ha cambiado nada. Escribe \"agente\" si quieres que te ayude una persona."
        }
        Pt => {
            "O sistema de faturação não aceitou o pedido, por isso nada mudou. Escreva \"atendente\" se quiser a ajuda de uma pessoa."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_each_language() {
        let m = Money::new(4250, bss::Currency::parse("EUR").unwrap_or_else(|e| unreachable!("{e}")));
        assert_eq!(money(En, &m), "42.50 EUR");
        assert_eq!(money(Es, &m), "42,50 EUR");
        assert_eq!(money(Pt, &m), "42,50 EUR");
        assert_eq!(signed(En, &m), "+42.50 EUR");
    }

    #[test]
    fn every_template_is_filled() {
        for l in Language::ALL {
            let l = *l;
            for text in [
                code_sent(l, "j***@example.com", 10),
                code_message(l, "123456", 10).1,
                wrong_code(l, 1),
                wrong_code(l, 3),
                type_the_code(l, "x"),
                choose_contact(l, &[(ContactKind::Email, "j***@example.com".into())]),
            ] {
                assert!(!text.contains('{') && !text.is_empty(), "{text}");
            }
            assert!(code_message(l, "123456", 10).1.contains("123456"));
        }
    }
}
