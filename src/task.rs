//! A spawned task that ends with its owner: the frontend's background gateway
//! requests and the driver's session both must stop when what started them
//! returns early (an error, Ctrl-C), not run on against a finished build.

use tokio::task::{JoinError, JoinHandle};

/// A tokio task aborted when this handle is dropped.
pub struct Scoped<T>(JoinHandle<T>);

impl<T: Send + 'static> Scoped<T> {
    pub fn spawn(task: impl std::future::Future<Output = T> + Send + 'static) -> Scoped<T> {
        Scoped(tokio::spawn(task))
    }

    /// The task's result (an error if it panicked).
    pub async fn join(mut self) -> Result<T, JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for Scoped<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
