export class JetStreamBackend { static async open(_o: unknown): Promise<never> { throw new Error("not yet"); } }
