import { useState, type FormEvent } from 'react';

/**
 * A form's request: `run` goes on submit; while it runs the form is busy, and
 * if it fails the error stays in the form. A form whose owner closes it on
 * success (a dialog) stays busy until then, so it cannot be sent twice.
 */
export function useSubmit(run: () => Promise<void>, { busyAfterSuccess = false }: { busyAfterSuccess?: boolean } = {}) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await run();
      if (!busyAfterSuccess) setBusy(false);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return { submit, error, busy };
}
