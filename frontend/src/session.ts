/** Who is signed in: kept in localStorage so a reload keeps the shopper signed in. */
export interface Session {
  token: string;
  userId: string;
  email: string;
  firstName: string;
  role: string;
}

const STORAGE_KEY = "vendyz.session";

function read(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

class SessionStore {
  private value: Session | null = read();
  private readonly listeners = new Set<() => void>();

  current = (): Session | null => this.value;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  set(value: Session): void {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(value));
    this.change(value);
  }

  clear(): void {
    if (this.value === null) return;
    localStorage.removeItem(STORAGE_KEY);
    this.change(null);
  }

  private change(value: Session | null): void {
    this.value = value;
    this.listeners.forEach((listener) => listener());
  }
}

export const session = new SessionStore();
