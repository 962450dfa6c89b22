// What the administration console reads and sends: staff accounts, settings, channels.

export const ROLES = ['agent', 'supervisor', 'bot_trainer', 'admin', 'auditor'] as const;

export interface StaffMember {
  id: string;
  name: string;
  presence: string;
  /** The team they are in, if any. */
  team?: string | null;
  email: string;
  roles: string[];
  active: boolean;
  created_at: string;
  sessions: number;
  /** Two-step sign-in is set up. */
  mfa_enrolled: boolean;
}

export interface Saved {
  at: string;
  by: string;
}

export interface WidgetSettings {
  title: string;
  greeting: string;
  primary_color: string;
  on_primary_color: string;
  allowed_origins: string[];
}

export interface WidgetView extends WidgetSettings {
  source: 'config' | 'console';
  saved: Saved | null;
}

export interface MfaPolicyView {
  required_roles: string[];
  source: 'config' | 'console';
  saved: Saved | null;
}

export interface Retention {
  conversations_days: number;
  messages_days: number;
  raw_mail_days: number;
  attachments_days: number;
  calls_days: number;
  audit_days: number;
}

export interface RetentionView extends Retention {
  enforced: boolean;
  saved: Saved | null;
}

export interface CustomerMatch {
  id: string;
  name: string | null;
  email: string | null;
  legal_hold: boolean;
  erased: boolean;
}

export interface Holdings {
  handles: number;
  conversations: number;
  messages: number;
  emails: number;
  email_attachments: number;
  calls: number;
  bot_answers: number;
  unanswered_questions: number;
  tickets: number;
  ticket_events: number;
  ticket_notes: number;
  uploads: number;
}

export interface CustomerPrivacy {
  id: string;
  legal_hold: boolean;
  erased_at: string | null;
  holdings: Holdings;
}

export interface SocialAccount {
  id: string;
  channel: string;
  account_id: string;
  name: string;
  secrets_set: string[];
  created_at: string;
  webhook_path: string;
}

export interface ConfiguredChannels {
  email: {
    configured_in: string;
    enabled: boolean;
    smtp_listener: string | null;
    addresses: string[];
    local_domains: string[];
    from_address: string;
    relay: { host: string; port: number; tls: string; username: string | null; password_set: boolean } | null;
    imap: { name: string; address: string; host: string; port: number; tls: string; username: string; folder: string; after: string; password_set: boolean }[];
  };
  sip: {
    configured_in: string;
    enabled: boolean;
    realm: string;
    udp: string;
    tcp: string;
    support_numbers: { number: string; skills: string[] }[];
  };
}

/** `#rrggbb` → its WCAG relative luminance. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const s = parseInt(hex.slice(i, i + 2), 16) / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export const HEX = /^#[0-9a-fA-F]{6}$/;

/** The WCAG contrast ratio of two `#rrggbb` colours (1 to 21), or null if one is not a colour. */
export function contrast(a: string, b: string): number | null {
  if (!HEX.test(a) || !HEX.test(b)) return null;
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
