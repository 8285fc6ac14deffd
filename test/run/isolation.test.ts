import { describe, expect, it } from 'vitest';
import { whyUnshareFailed } from '../../src/run/exec/isolation.js';

// Why rootless is unavailable, said in the host's own terms: the sysctls are read from a table
// here, as the probe reads them from /proc/sys (Ubuntu 24.04's AppArmor restriction cannot be
// set on this kernel, which has no such sysctl).
describe('whyUnshareFailed', () => {
  const host = (values: Record<string, string>) => (name: string) => values[name];
  it('names the AppArmor restriction (Ubuntu 24.04, GitHub ubuntu-latest) and what works there', () => {
    const why = whyUnshareFailed('rootless', 'unshare: mount none failed: Permission denied', host({ 'kernel/apparmor_restrict_unprivileged_userns': '1' }));
    expect(why).toMatch(/apparmor_restrict_unprivileged_userns=1/);
    expect(why).toMatch(/AppArmor profile/);
    expect(why).toMatch(/--isolation chroot under sudo/);
  });
  it('names unprivileged_userns_clone=0 and max_user_namespaces=0', () => {
    expect(whyUnshareFailed('rootless', 'x', host({ 'kernel/unprivileged_userns_clone': '0' }))).toMatch(/unprivileged_userns_clone=0/);
    expect(whyUnshareFailed('rootless', 'x', host({ 'user/max_user_namespaces': '0' }))).toMatch(/max_user_namespaces=0/);
  });
  it('otherwise says what unshare said; the sysctls of user namespaces do not explain chroot', () => {
    expect(whyUnshareFailed('rootless', 'unshare: boom', host({}))).toBe('unshare failed: unshare: boom');
    expect(whyUnshareFailed('chroot', 'unshare: boom', host({ 'kernel/apparmor_restrict_unprivileged_userns': '1' }))).toBe('unshare failed: unshare: boom');
  });
});
