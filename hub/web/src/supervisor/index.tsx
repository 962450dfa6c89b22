// Placeholder until the supervisor console lands (replaced in this same stop).
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';

export default function Console(_props: ConsoleProps): JSX.Element {
  return <h1>supervisor</h1>;
}
