import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState, useSyncExternalStore } from "react";
import { messageOf } from "../api/client";
import { hrefOf, navigate } from "../route";
import { session } from "../session";
import { useShop } from "../shop";

export function useSession() {
  return useSyncExternalStore(session.subscribe, session.current);
}

function useLogin() {
  const { api } = useShop();
  return async (email: string, password: string): Promise<string | null> => {
    const { data, error } = await api.POST("/api/v1/auth/login", { body: { email, password } });
    if (error || !data?.data) return messageOf(error, "Could not log in");
    const user = data.data;
    session.set({
      token: user.token,
      userId: user.userId,
      email: user.email,
      firstName: user.firstName,
      role: user.role,
    });
    return null;
  };
}

/** A form whose action answers an error message, or null once done (then: to the sale). */
function useFormAction(action: (form: FormData) => Promise<string | null>) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setBusy(true);
    const failed = await action(new FormData(event.currentTarget));
    setBusy(false);
    setError(failed);
    if (!failed) navigate("sale");
  }
  return { error, busy, onSubmit: (event: FormEvent<HTMLFormElement>) => void onSubmit(event) };
}

export function LoginForm() {
  const login = useLogin();
  const { error, busy, onSubmit } = useFormAction((form) =>
    login(String(form.get("email")), String(form.get("password"))),
  );

  return (
    <form className="panel form" aria-labelledby="login-heading" onSubmit={onSubmit}>
      <h2 id="login-heading">Log in</h2>
      <label>
        Email
        <input name="email" type="email" autoComplete="email" required />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="current-password" required />
      </label>
      {error ? <p role="alert">{error}</p> : null}
      <button type="submit" disabled={busy}>
        Log in
      </button>
      <p>
        New here? <a href={hrefOf("register")}>Create an account</a>
      </p>
    </form>
  );
}

export function RegisterForm() {
  const { api } = useShop();
  const login = useLogin();
  const { error, busy, onSubmit } = useFormAction(async (form) => {
    const body = {
      email: String(form.get("email")),
      password: String(form.get("password")),
      firstName: String(form.get("firstName")),
      lastName: String(form.get("lastName")),
    };
    const { error: refused } = await api.POST("/api/v1/auth/register", { body });
    return refused ? messageOf(refused, "Could not create the account") : login(body.email, body.password);
  });

  return (
    <form className="panel form" aria-labelledby="register-heading" onSubmit={onSubmit}>
      <h2 id="register-heading">Create an account</h2>
      <label>
        First name
        <input name="firstName" autoComplete="given-name" required />
      </label>
      <label>
        Last name
        <input name="lastName" autoComplete="family-name" required />
      </label>
      <label>
        Email
        <input name="email" type="email" autoComplete="email" required />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="new-password" minLength={8} required />
      </label>
      {error ? <p role="alert">{error}</p> : null}
      <button type="submit" disabled={busy}>
        Register
      </button>
      <p>
        Have an account? <a href={hrefOf("login")}>Log in</a>
      </p>
    </form>
  );
}

export function AccountBar() {
  const { api } = useShop();
  const queryClient = useQueryClient();
  const user = useSession();
  if (user === null) {
    return (
      <div className="account">
        <a href={hrefOf("login")}>Log in</a>
        <a href={hrefOf("register")}>Register</a>
      </div>
    );
  }
  async function onLogout() {
    // Leave the pages that poll with the token and drop their queries first, so nothing asks
    // with it once the server has revoked it; signed out here whatever the answer.
    navigate("sale");
    await queryClient.cancelQueries({ queryKey: ["orders"] });
    queryClient.removeQueries({ queryKey: ["orders"] });
    await api.POST("/api/v1/auth/logout").catch(() => undefined);
    session.clear();
  }
  return (
    <div className="account">
      <span>Signed in as {user.firstName || user.email}</span>
      <button type="button" onClick={() => void onLogout()}>
        Log out
      </button>
    </div>
  );
}
