// A modal dialog on the native <dialog> element: focus moves in and stays there, Escape closes,
// and focus returns to what opened it.

import { useEffect, useRef } from 'preact/hooks';
import type { ComponentChildren, JSX } from 'preact';

export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }): JSX.Element {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    // Back to the opener, if it is still there (a disable turns its button into "Enable").
    return () => {
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  return (
    <dialog ref={ref} class="admin-dialog" aria-labelledby="admin-dialog-title" onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <h2 id="admin-dialog-title">{title}</h2>
      {children}
    </dialog>
  );
}
