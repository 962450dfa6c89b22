// Single sign-on's return to the page: the hub's callback sends the browser back with the outcome
// in the URL fragment (`#sso_code=…`, `#sso_error=…`, `#sso_step_up=done`), which no server sees.
// It is read once and removed from the address bar (and history) at once.

/** Why the hub refused a single sign-on (each has a `signin.sso.error.*` string). */
export const SSO_ERRORS = [
  'invalid_state', 'provider_error', 'failed', 'no_role', 'no_email', 'disabled',
  'not_provisioned', 'email_taken', 'last_admin', 'wrong_account', 'not_fresh',
] as const;

export type SsoError = (typeof SSO_ERRORS)[number];

export interface SsoOutcome {
  /** The one-time code to exchange for a session. */
  code?: string;
  error?: SsoError;
  steppedUp?: boolean;
}

/** Takes the outcome out of the URL fragment, if the hub left one. */
export function takeSsoOutcome(): SsoOutcome {
  const params = new URLSearchParams(location.hash.slice(1));
  const code = params.get('sso_code');
  const error = params.get('sso_error');
  const steppedUp = params.get('sso_step_up') === 'done';
  if (!code && !error && !steppedUp) return {};
  history.replaceState(history.state, '', location.pathname + location.search);
  const known = SSO_ERRORS.find((e) => e === error);
  return {
    code: code ?? undefined,
    error: error ? (known ?? 'failed') : undefined,
    steppedUp,
  };
}

/** The staff page the provider sends the browser back to: this one (the hub takes `/` and
 * `/<console>` only). */
export function ssoReturnPage(): string {
  return /^\/[a-z-]*$/.test(location.pathname) ? location.pathname : '/';
}

/** Where the sign-in button sends the browser: the hub's start, coming back to this page. */
export function ssoStartUrl(startUrl: string): string {
  return `${startUrl}?return_to=${encodeURIComponent(ssoReturnPage())}`;
}

/** The name of the step-up pop-up window, and the channel its outcome comes back on. */
export const STEP_UP_WINDOW = 'switchboard-step-up';
export const STEP_UP_CHANNEL = 'switchboard-step-up';
/** The mark the dialog leaves in the pop-up's session storage, which (unlike `window.name`, which
 * browsers clear on a cross-site navigation, or `window.opener`, which a provider's opener policy
 * may cut) survives the trip through the provider. */
const STEP_UP_MARK = 'switchboard.step-up-popup';

/** Marks `popup` (just opened on `about:blank`, so of this origin) as the step-up pop-up. */
export function markStepUpPopup(popup: Window): void {
  try {
    popup.sessionStorage.setItem(STEP_UP_MARK, '1');
  } catch {
    // storage off: the pop-up then shows the page and the person closes it
  }
}

/** What the step-up pop-up tells the dialog that opened it. */
export interface StepUpMessage {
  type: 'sso_step_up';
  ok: boolean;
  error?: SsoError;
}

/** In the step-up pop-up, back from the provider: tells the dialog and closes. Returns whether
 * this page is that pop-up (and so shows nothing else). */
export function finishStepUpPopup(outcome: SsoOutcome): boolean {
  let marked = false;
  try {
    marked = sessionStorage.getItem(STEP_UP_MARK) === '1';
    sessionStorage.removeItem(STEP_UP_MARK);
  } catch {
    // storage off
  }
  if (!marked || (!outcome.steppedUp && !outcome.error)) return false;
  const message: StepUpMessage = { type: 'sso_step_up', ok: Boolean(outcome.steppedUp), error: outcome.error };
  if (typeof BroadcastChannel === 'function') {
    const channel = new BroadcastChannel(STEP_UP_CHANNEL);
    channel.postMessage(message);
    channel.close();
  }
  window.close();
  return true;
}
