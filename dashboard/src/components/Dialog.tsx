import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { api, ApiError, errorMessage, seg } from '../api/client';
import { useSubmit } from '../lib/form-submit';

/**
 * A modal on the native <dialog>: the browser traps focus, Escape closes it
 * and focus returns to the control that opened it.
 */
export function Dialog({
  open,
  title,
  onClose,
  children,
  footer,
  wide = false,
}: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      const opener = document.activeElement as HTMLElement | null;
      dialog.showModal();
      return () => {
        if (dialog.open) dialog.close();
        opener?.focus?.();
      };
    }
    return undefined;
  }, [open]);

  if (!open) return null;
  return (
    <dialog
      ref={ref}
      className={wide ? 'dialog dialog-wide' : 'dialog'}
      aria-labelledby={titleId}
      onCancel={(event) => {
        event.preventDefault();
        onCloseRef.current();
      }}
    >
      <header className="dialog-header">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="btn btn-icon" aria-label="Close" onClick={() => onCloseRef.current()}>
          ×
        </button>
      </header>
      <div className="dialog-body">{children}</div>
      {footer && <footer className="dialog-footer">{footer}</footer>}
    </dialog>
  );
}

/** Asks before a destructive action and shows its error in place if it fails. */
export function ConfirmDialog({
  open,
  title,
  message,
  confirmLabel,
  onConfirm,
  onClose,
}: {
  open: boolean;
  title: string;
  message: ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (open) {
      setBusy(false);
      setError(null);
    }
  }, [open]);

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      open={open}
      title={title}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose} autoFocus>
            Cancel
          </button>
          <button type="button" className="btn btn-danger" onClick={confirm} disabled={busy}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </>
      }
    >
      <div>{message}</div>
      <FormError error={error} />
    </Dialog>
  );
}

/** A failed request, announced where the form is, with the field the API named. */
export function FormError({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="form-error" role="alert">
      {error instanceof ApiError && error.field ? `${error.field}: ` : ''}
      {errorMessage(error)}
    </p>
  );
}

/** Cancel and submit for a form in a dialog; the submit button waits while the request runs. */
export function FormFooter({ busy, submitLabel, onCancel }: { busy: boolean; submitLabel: string; onCancel: () => void }) {
  return (
    <div className="dialog-footer">
      <button type="button" className="btn" onClick={onCancel}>
        Cancel
      </button>
      <button type="submit" className="btn btn-primary" disabled={busy}>
        {busy ? 'Saving…' : submitLabel}
      </button>
    </div>
  );
}

/**
 * The request of a create-or-edit dialog: `save` runs on submit; while it
 * runs the form is busy, and if it fails the error stays in the form, with
 * the field the API named. On success the dialog's owner closes it.
 */
export function useSaveForm(save: () => Promise<void>) {
  const { submit, error, busy } = useSubmit(save, { busyAfterSuccess: true });
  const fieldError = (field: string) => (error instanceof ApiError && error.field === field ? error.message : null);
  return { submit, error, busy, fieldError };
}

/** PUT to the item when editing one, POST to the list when creating. */
export async function saveItem(path: string, id: string | null, body: unknown): Promise<void> {
  if (id) await api.put(`${path}/${seg(id)}`, body);
  else await api.post(path, body);
}
