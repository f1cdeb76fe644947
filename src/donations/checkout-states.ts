/**
 * A checkout's life, in one place. A checkout is written once the provider has answered (the
 * reader is on the provider's page: `redirected`), and then only moves along these arrows:
 *
 *   redirected ──▶ completed (money arrived, or the subscription is active)
 *       │  ╲────▶ failed ──▶ completed (a declined card, then another that worked)
 *       │   ╲───▶ cancelled (the provider voided it)
 *       ╰──────▶ expired (it can no longer be paid)
 *
 * Money that arrives for a cancelled or expired checkout still completes it: a payment is never
 * refused because of what our records thought. `completed` is final.
 */
export const checkoutStates = ['redirected', 'completed', 'failed', 'cancelled', 'expired'] as const;
export type CheckoutState = (typeof checkoutStates)[number];

const transitions: Record<CheckoutState, readonly CheckoutState[]> = {
  redirected: ['completed', 'failed', 'cancelled', 'expired'],
  failed: ['completed', 'cancelled', 'expired'],
  cancelled: ['completed'],
  expired: ['completed'],
  completed: [],
};

/** The states a checkout may be in to move to `to` (the guard of the conditional update). */
export function statesBefore(to: CheckoutState): CheckoutState[] {
  return checkoutStates.filter((from) => transitions[from].includes(to));
}

export const canMove = (from: CheckoutState, to: CheckoutState) => transitions[from].includes(to);

/** States in which the sweep still asks the provider what became of the checkout. */
export const openStates: readonly CheckoutState[] = ['redirected', 'failed'];
