export async function runLagDashboard(..._a: unknown[]): Promise<void> {}
