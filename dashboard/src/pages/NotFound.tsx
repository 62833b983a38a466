import { Link } from 'wouter';
import { Empty } from '../components/States';

export function NotFoundPage() {
  return (
    <Empty title="No such page">
      <Link href="/">Go to the overview</Link>
    </Empty>
  );
}
