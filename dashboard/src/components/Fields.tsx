import { useEffect, useId, useRef, useState, type ReactNode } from 'react';

/** A text filter that waits for typing to pause before it changes the query. */
export function DebouncedInput({
  label,
  value,
  onChange,
  delay = 300,
  placeholder,
  name,
  type = 'search',
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  delay?: number;
  placeholder?: string;
  name?: string;
  type?: string;
}) {
  const [text, setText] = useState(value);
  const latest = useRef(onChange);
  latest.current = onChange;

  // The URL can change underneath (Back, "Clear filters").
  useEffect(() => setText(value), [value]);

  useEffect(() => {
    if (text === value) return;
    const timer = setTimeout(() => latest.current(text), delay);
    return () => clearTimeout(timer);
    // value is deliberately left out: only typing schedules a change
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [text, delay]);

  return <TextField label={label} name={name} type={type} value={text} placeholder={placeholder} onChange={setText} onEnter={() => latest.current(text)} />;
}

export function SelectField({
  label,
  value,
  onChange,
  options,
  name,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  options: { value: string; label: string }[];
  name?: string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} name={name} value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </div>
  );
}

export function TextField({
  label,
  value,
  onChange,
  name,
  type = 'text',
  required,
  placeholder,
  hint,
  error,
  autoComplete,
  disabled,
  onEnter,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  name?: string;
  type?: string;
  required?: boolean;
  placeholder?: string;
  hint?: ReactNode;
  error?: string | null;
  autoComplete?: string;
  disabled?: boolean;
  /** Enter in the field, for fields that act on it without a form submit. */
  onEnter?: () => void;
}) {
  const id = useId();
  return (
    <LabelledField id={id} label={label} required={required} hint={hint} error={error}>
      <input
        id={id}
        name={name}
        type={type}
        value={value}
        required={required}
        placeholder={placeholder}
        autoComplete={autoComplete}
        disabled={disabled}
        {...describedBy(id, hint, error)}
        onChange={(e) => onChange(e.target.value)}
        onKeyDown={
          onEnter &&
          ((e) => {
            if (e.key === 'Enter') onEnter();
          })
        }
      />
    </LabelledField>
  );
}

export function TextAreaField({
  label,
  value,
  onChange,
  name,
  hint,
  rows = 4,
  error,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  name?: string;
  hint?: ReactNode;
  rows?: number;
  error?: string | null;
}) {
  const id = useId();
  return (
    <LabelledField id={id} label={label} hint={hint} error={error}>
      <textarea id={id} name={name} rows={rows} value={value} {...describedBy(id, hint, error)} onChange={(e) => onChange(e.target.value)} />
    </LabelledField>
  );
}

/** A form field: its label, the control, and the hint or the error the control is described by. */
function LabelledField({ id, label, required, hint, error, children }: { id: string; label: string; required?: boolean; hint?: ReactNode; error?: string | null; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>
        {label}
        {required && <span aria-hidden="true"> *</span>}
      </label>
      {children}
      {(hint || error) && (
        <small id={`${id}-hint`} className={error ? 'field-error' : 'field-hint'}>
          {error ?? hint}
        </small>
      )}
    </div>
  );
}

function describedBy(id: string, hint: ReactNode, error: string | null | undefined) {
  return { 'aria-invalid': error ? true : undefined, 'aria-describedby': hint || error ? `${id}-hint` : undefined } as const;
}

export function CheckboxField({ label, checked, onChange, name }: { label: string; checked: boolean; onChange: (v: boolean) => void; name?: string }) {
  return (
    <label className="check">
      <input type="checkbox" name={name} checked={checked} onChange={(e) => onChange(e.target.checked)} />
      {label}
    </label>
  );
}

export function BoolBadge({ value }: { value: boolean | null | undefined }) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  return <span className={value ? 'badge badge-true' : 'badge badge-false'}>{value ? 'true' : 'false'}</span>;
}

/** One value per line in a textarea; blank lines are dropped. */
export function linesToList(text: string): string[] {
  return text
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}
