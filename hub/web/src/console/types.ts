// What a console module gets from the shell.

import type { Api, Session } from '../workspace/api';

export interface ConsoleProps {
  session: Session;
  api: Api;
  /** The URL's hash without `#`: which section of the console is shown ('' = its first). */
  section: string;
  /** Shows another section (sets the hash; the back button returns). */
  navigate: (section: string) => void;
}

export type ConsoleKind = 'supervisor' | 'trainer' | 'admin' | 'auditor';

/** The role each console needs, as the hub's API checks it. */
export const CONSOLE_ROLE: Record<ConsoleKind, string> = { supervisor: 'supervisor', trainer: 'bot_trainer', admin: 'admin', auditor: 'auditor' };

export const CONSOLES: readonly ConsoleKind[] = ['supervisor', 'trainer', 'admin', 'auditor'];

/** Whether the staff member holds `role`: as on the hub, admins hold every role but auditor. */
export function hasRole(roles: readonly string[], role: string): boolean {
  return roles.includes(role) || (role !== 'auditor' && roles.includes('admin'));
}

/** The console a path names (`/supervisor`, `/trainer`, `/admin`, `/auditor`), or null for the workspace. */
export function consoleOf(pathname: string): ConsoleKind | null {
  const first = pathname.split('/')[1] ?? '';
  return (CONSOLES as readonly string[]).includes(first) ? (first as ConsoleKind) : null;
}
